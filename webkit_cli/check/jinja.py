"""The Jinja environment templates are parsed with: the app's extensions, whether or not
the app is imported.

A tag such as Flask-Caching's ``{% cache %}`` parses only with the extension the app
registers. With the app imported its ``jinja_env`` says which (:mod:`.appfacts`); without
it they are read from the code — ``jinja_env.add_extension("...")``, ``jinja_options``'
``"extensions"``, and the Flask extensions known to register one (:data:`KNOWN_LIBRARIES`)
— and from ``[tool.webkit.check] jinja-extensions``.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

    from webkit_cli.check.context import CheckContext

#: Without the app, templates are parsed with Jinja's bundled extensions that Flask projects
#: commonly enable (Flask-Babel's ``{% trans %}``, ``{% do %}``, ``{% break %}``): a tag the
#: real app lacks is then missed in that degraded mode, rather than a valid one reported.
FALLBACK_EXTENSIONS = ("jinja2.ext.i18n", "jinja2.ext.do", "jinja2.ext.loopcontrols")

#: Flask extensions whose set-up registers a Jinja extension on the app (top-level module
#: -> the extension's import path).
KNOWN_LIBRARIES = {
    "flask_caching": "flask_caching.jinja2ext.CacheExtension",
    "flask_assets": "webassets.ext.jinja2.AssetsExtension",
}


def _load(path: str) -> Any:
    """The extension class ``path`` names (``None`` when it cannot be imported)."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - a misspelt or uninstalled extension
        return None


def build_environment(
    extensions: Iterable[str], syntax: Mapping[str, Any], *, fallback: bool = False
) -> Environment:
    """A plain :class:`jinja2.Environment` with ``extensions`` (those that import) and
    ``syntax`` (delimiters and line prefixes, as the app's environment has them)."""
    from jinja2 import Environment

    names = [*(FALLBACK_EXTENSIONS if fallback else ()), *extensions]
    classes = [cls for cls in (_load(name) for name in dict.fromkeys(names)) if cls is not None]
    options = {key: value for key, value in syntax.items() if value is not None}
    try:
        return Environment(extensions=classes, **options)
    except Exception:  # noqa: BLE001 - an extension whose set-up needs the app itself
        return Environment(extensions=[_load(name) for name in FALLBACK_EXTENSIONS], **options)


def unloadable(extensions: Iterable[str]) -> list[str]:
    """The extensions of ``extensions`` this process cannot import (e.g. the project's own)."""
    return [name for name in extensions if _load(name) is None]


def _string_list(node: ast.AST) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


#: A module naming none of these registers no Jinja extension (a fast path: no parse).
EXTENSION_WORDS = (*KNOWN_LIBRARIES, "add_extension", "extensions")


def module_extensions(tree: ast.Module) -> list[str]:
    """The Jinja extensions one module registers, as import paths (kept in the per-file
    cache)."""
    found: list[str] = []
    imported: dict[str, str] = {}  # local name -> import path
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                imported[alias.asname or alias.name] = full
                library = KNOWN_LIBRARIES.get(full.split(".", 1)[0])
                if library is not None:
                    found.append(library)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_extension":
            if node.args and isinstance(node.args[0], ast.Constant):
                if isinstance(node.args[0].value, str):
                    found.append(node.args[0].value)
            elif node.args and isinstance(node.args[0], ast.Name):
                path = imported.get(node.args[0].id)
                if path is not None and "." in path:
                    found.append(path)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "extensions":
                    found.extend(_string_list(value))
    return found


def declared_extensions(ctx: CheckContext) -> list[str]:
    """The Jinja extensions the project's code registers, as import paths, and the config's."""
    found: list[str] = []
    for file in ctx.python_files:
        result = ctx.file_results.get(file.rel)
        if result is not None:
            if file.error is None:
                found.extend(result.extracts.get("jinja-extensions", ()))
            continue
        # Fast path (and no parse): a module naming none of these registers no extension.
        if file.is_test or not any(word in file.source for word in EXTENSION_WORDS):
            continue
        tree = file.tree
        if tree is not None:
            found.extend(module_extensions(tree))
    return [*found, *ctx.config.jinja_extensions]
