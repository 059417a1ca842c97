"""Validation of project names and Python package names.

A project name becomes a folder and a distribution name; the package name becomes
an import name. Both are checked before anything is rendered, and every refusal
says why and what to type instead.
"""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path

from webkit_cli.errors import ScaffoldError

# PEP 508 distribution names: letters, digits, '.', '_' and '-', starting and ending alphanumeric.
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


def normalise_package(name: str) -> str:
    """The Python package a project name maps to: ``My-Site.v2`` -> ``my_site_v2``."""
    return re.sub(r"[-.\s]+", "_", name.strip()).lower()


def validate_project_name(name: str) -> str:
    """Return ``name`` if it is a usable project name, else raise ScaffoldError saying why."""
    if not name or not name.strip():
        raise ScaffoldError("The project name is empty: give one, e.g. 'webkit new mysite'.")
    if "/" in name or "\\" in name or name in {".", ".."} or ".." in name:
        raise ScaffoldError(
            f"Project name {name!r} contains a path separator or '..': give a plain name "
            "and choose the parent folder with --dir."
        )
    if len(name.encode("utf-8")) > 255:
        raise ScaffoldError(
            f"Project name {name[:20]}... is {len(name)} characters long: a folder name can "
            "have at most 255; choose a shorter one."
        )
    if not _PROJECT_NAME.match(name):
        suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._") or "mysite"
        raise ScaffoldError(
            f"Project name {name!r} is not valid: use letters, digits, '-', '_' and '.', "
            f"starting and ending with a letter or digit (e.g. {suggestion!r})."
        )
    return name


def _installed_elsewhere(name: str) -> str | None:
    """Where an importable top-level module ``name`` lives, ignoring the current folder.

    ``importlib.util.find_spec`` only locates the module, it does not import it.
    A folder or module called ``name`` right in the current working directory is
    ignored: with ``python -m webkit_cli`` the cwd is on sys.path, and the project
    folder being created (or an empty folder the user made for it) would otherwise
    look like an installed package.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a broken finder must not stop scaffolding
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if spec.origin and spec.origin not in {"built-in", "frozen", "namespace"}:
        locations = [spec.origin]
    if not locations:
        return spec.origin or name
    in_cwd = Path.cwd().resolve() / name
    outside = [
        loc
        for loc in locations
        if not (
            Path(loc).resolve().is_relative_to(in_cwd)
            or Path(loc).stem == name
            and Path(loc).resolve().parent == in_cwd.parent
        )
    ]
    return outside[0] if outside else None


def validate_package(package: str, *, option: str = "--package") -> str:
    """Return ``package`` if it is a safe import name, else raise ScaffoldError saying why."""
    if not package.isidentifier() or not package.isascii():
        raise ScaffoldError(
            f"Package name {package!r} is not a Python identifier: use letters, digits and "
            f"'_', not starting with a digit (set it with {option})."
        )
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise ScaffoldError(
            f"Package name {package!r} is a Python keyword: choose another name "
            f"(e.g. {package + '_app'!r}) with {option}."
        )
    if package in sys.stdlib_module_names or package in sys.builtin_module_names:
        raise ScaffoldError(
            f"Package name {package!r} is a standard-library module and would shadow it: "
            f"choose another name (e.g. {package + '_app'!r}) with {option}."
        )
    where = _installed_elsewhere(package)
    if where is not None:
        raise ScaffoldError(
            f"Package name {package!r} is already importable ({where}) and would clash with it: "
            f"choose another name (e.g. {package + '_app'!r}) with {option}."
        )
    return package


def resolve_names(name: str, package: str | None) -> tuple[str, str]:
    """Validate NAME and the package (given, or derived from NAME); return both."""
    validate_project_name(name)
    if package is not None:
        return name, validate_package(package)
    derived = normalise_package(name)
    return name, validate_package(derived, option="--package (it defaults to NAME normalised)")
