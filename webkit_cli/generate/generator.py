"""Generators: folders in a project template (``generators/NAME/``), in the template format.

A generator folder holds ``generator.toml`` and ``files/`` (rendered like a project
template's ``files/``, into the project). A template that extends a base (``extends``)
also has the base's generators; a generator of the same name in the template itself lays
its ``files/`` over the base generator's, like the templates do. ``generator.toml``::

    [generator]
    description = "A model, its migration, pages with forms, and tests."
    style = "html"                      # or "api": what --html / --api pick
    migrations = "migrations/versions"  # where the Alembic revisions are (optional)

    [generator.context]                 # values the files/ templates read, e.g. {{ owner }}
    owner = "user_id"

    [[edits]]                           # each edit of a file the user owns, explained
    file = "src/{{ package }}/__init__.py"
    why = "imports the {{ resource.plural }} blueprint"
    import = "from . import {{ resource.module }}"
    within = "create_app"                # into the factory's own import, when it has one

    [[edits]]
    file = "src/{{ package }}/__init__.py"
    why = "registers the blueprint in create_app()"
    after = '^\\s*app\\.register_blueprint\\('   # after the last line that matches
    insert = "app.register_blueprint({{ resource.module }}.bp)"

    [[edits]]
    file = "src/{{ package }}/templates/base.html"
    why = "adds a link to the navigation"
    before = 'webkit generate: navigation links'  # before the first line that matches
    insert = "<li>...</li>"

    (``append = "..."`` adds text at the end of the file.)

Every string is a Jinja template rendered in the sandbox with the generator's context.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webkit_cli.generate.fields import GenerateError

GENERATORS_DIR = "generators"
STYLES = ("html", "api")


@dataclass(frozen=True)
class EditSpec:
    file: str
    why: str
    kind: str
    text: str
    anchor: str | tuple[str, ...] | None = None
    within: str | None = None


@dataclass(frozen=True)
class Generator:
    name: str
    root: Path
    description: str
    style: str
    migrations: str | None
    edits: tuple[EditSpec, ...]
    bases: tuple[Path, ...] = ()  # the same generator in the template's bases, nearest first
    #: ``[generator.context]``: values the generator's templates read (a base's, then its own).
    context: tuple[tuple[str, object], ...] = ()

    @property
    def files_dirs(self) -> tuple[Path, ...]:
        return (self.root / "files", *(base / "files" for base in self.bases))


def _load(root: Path, name: str, bases: tuple[Path, ...]) -> Generator:
    toml_path = root / "generator.toml"
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GenerateError(f"{toml_path} cannot be read: {exc}.") from None
    table = data.get("generator", {})
    if not isinstance(table, dict):
        raise GenerateError(f"{toml_path}: [generator] must be a table.")
    # A base generator's settings hold unless the nearer one sets them.
    merged: dict[str, Any] = {}
    context: dict[str, object] = {}
    edits: list[EditSpec] = []
    for base in reversed(bases):
        base_data = tomllib.loads((base / "generator.toml").read_text(encoding="utf-8"))
        merged.update(base_data.get("generator", {}))
        context.update(base_data.get("generator", {}).get("context", {}))
    merged.update(table)
    extra = table.get("context", {})
    if not isinstance(extra, dict):
        raise GenerateError(f"{toml_path}: [generator.context] must be a table.")
    context.update(extra)
    style = merged.get("style", "html")
    if style not in STYLES:
        raise GenerateError(f"{toml_path}: style must be one of {', '.join(STYLES)}.")
    raw_edits = data.get("edits")
    if raw_edits is None:  # the nearest generator that lists edits decides them all
        for base in bases:
            base_edits = tomllib.loads((base / "generator.toml").read_text(encoding="utf-8"))
            if "edits" in base_edits:
                raw_edits = base_edits["edits"]
                break
    for i, raw in enumerate(raw_edits or []):
        edits.append(_edit(raw, i, toml_path))
    migrations = merged.get("migrations")
    return Generator(
        name=name,
        root=root,
        description=str(merged.get("description", "")),
        style=str(style),
        migrations=str(migrations) if migrations else None,
        edits=tuple(edits),
        bases=bases,
        context=tuple(sorted(context.items())),
    )


def _edit(raw: object, index: int, where: Path) -> EditSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("file"), str):
        raise GenerateError(f"{where}: [[edits]] #{index + 1} needs a 'file'.")
    why = str(raw.get("why", "an edit"))
    if isinstance(raw.get("import"), str):
        within = raw.get("within")
        if within is not None and not isinstance(within, str):
            raise GenerateError(f"{where}: [[edits]] #{index + 1}: 'within' must be a name.")
        return EditSpec(raw["file"], why, "import", raw["import"], within=within)
    for kind in ("after", "before"):
        anchor = raw.get(kind)
        if isinstance(anchor, list) and all(isinstance(a, str) for a in anchor) and anchor:
            anchor = tuple(anchor)
        if isinstance(anchor, str | tuple) and isinstance(raw.get("insert"), str):
            return EditSpec(raw["file"], why, kind, raw["insert"], anchor)
    if isinstance(raw.get("append"), str):
        return EditSpec(raw["file"], why, "append", raw["append"])
    raise GenerateError(
        f"{where}: [[edits]] #{index + 1} needs 'import', 'after' or 'before' with 'insert', "
        "or 'append'."
    )


def template_roots(template_root: Path) -> list[Path]:
    """The template and the bases it extends, nearest first."""
    from webkit_cli.scaffold.template import load_template

    template = load_template(template_root)
    return [template.root, *template.bases]


def find_generators(template_root: Path) -> dict[str, Generator]:
    """Every generator the template (with its bases) provides, by name."""
    roots = template_roots(template_root)
    found: dict[str, list[Path]] = {}
    for root in roots:
        folder = root / GENERATORS_DIR
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if (child / "generator.toml").is_file():
                found.setdefault(child.name, []).append(child)
    return {name: _load(dirs[0], name, tuple(dirs[1:])) for name, dirs in sorted(found.items())}


def template_root_for(template: str, source: str | None) -> Path:
    """The project's template folder: the built-in one by name, or the recorded folder."""
    from webkit_cli.errors import TemplateError
    from webkit_cli.scaffold.template import resolve_template

    if source and Path(source).expanduser().is_dir():
        return Path(source).expanduser()
    try:
        return resolve_template(template).root
    except TemplateError:
        where = f" (recorded source: {source})" if source else ""
        raise GenerateError(
            f"The project's template {template!r}{where} is not installed or not found, so "
            "its generators are not either."
        ) from None


def builtin_generator_since(template: str, generator: str) -> str | None:
    """The first released version of the built-in ``template`` that shipped ``generator``
    (in its own folder or a base's), read from the release archives; None when none did."""
    import zipfile

    from webkit_cli.update.releases import BuiltinSource, archive_path

    suffix = f"/{GENERATORS_DIR}/{generator}/generator.toml"
    for version in BuiltinSource(template).versions():
        path = archive_path(template, version)
        if path is None or not path.is_file():
            continue
        with zipfile.ZipFile(path) as archive:
            if any(member.endswith(suffix) for member in archive.namelist()):
                return version
    return None
