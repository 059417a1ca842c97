"""What a generator needs to know about the project, read from its files without importing it:
its template, its package, its models (by parsing), its URL prefixes and its migrations' head."""

from __future__ import annotations

import ast
import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from webkit_cli._paths import is_ignored_dir
from webkit_cli.generate.fields import GenerateError


@dataclass(frozen=True)
class Model:
    name: str  # the class
    table: str
    module: str  # dotted, relative to the package: "models", "authors.models"
    owned: bool = False  # it has a user_id or owner_id column: its rows belong to a user


@dataclass
class ProjectInfo:
    root: Path
    template: str
    template_version: str
    template_source: str | None
    answers: dict[str, object]
    package: str
    package_dir: Path
    models: dict[str, Model] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)  # dotted, relative to the package

    @property
    def user_model(self) -> Model | None:
        """The accounts' model, when the project has accounts (a ``User`` model)."""
        return self.models.get("User")

    def model_for(self, name: str) -> Model | None:
        """A model by class name, table name or snake-case name (``Author``, ``authors``)."""
        wanted = name.replace("_", "").lower()
        for model in self.models.values():
            if wanted in {model.name.lower(), model.table.replace("_", "").lower()}:
                return model
            if wanted + "s" == model.table.replace("_", "").lower():
                return model
        return None


def read_project(start: Path) -> ProjectInfo:
    """The generated project at or above ``start`` (an Error when there is none)."""
    from webkit_cli.errors import UpdateError
    from webkit_cli.update.core import find_generated_project, read_provenance

    try:
        root = find_generated_project(start)
        provenance = read_provenance(root)
    except UpdateError as exc:
        message = exc.format_message()
        raise GenerateError(
            _no_provenance(start) if message.startswith("No project") else message
        ) from None
    package = str(provenance.answers.get("package") or "")
    package_dir = root / "src" / package
    if not package or not (package_dir / "__init__.py").is_file():
        package_dir = root / package
        if not package or not (package_dir / "__init__.py").is_file():
            raise GenerateError(
                f"{root / 'pyproject.toml'} records the package {package!r}, but there is no "
                f"src/{package}/__init__.py: was it renamed? Fix [tool.webkit.template.answers] "
                "package."
            )
    info = ProjectInfo(
        root=root,
        template=provenance.name,
        template_version=provenance.version,
        template_source=provenance.source,
        answers=dict(provenance.answers),
        package=package,
        package_dir=package_dir,
    )
    _scan_package(info)
    return info


def _no_provenance(start: Path) -> str:
    return (
        f"No project made by 'webkit new' at {start.resolve()}: its pyproject.toml has no "
        "[tool.webkit.template] table, so webkit does not know which template's generators "
        "fit it. Run webkit generate inside a project made by 'webkit new'."
    )


def _scan_package(info: ProjectInfo) -> None:
    for path in sorted(info.package_dir.rglob("*.py")):
        rel = path.relative_to(info.package_dir)
        if any(is_ignored_dir(part) for part in rel.parts[:-1]):
            continue
        dotted = ".".join(rel.with_suffix("").parts)
        if dotted.endswith(".__init__"):
            dotted = dotted[: -len(".__init__")]
        info.modules.add(dotted)
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue  # the user's broken file is theirs; it just holds no model we can see
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                table = _tablename(node)
                if table:
                    owned = bool({"user_id", "owner_id"} & _attributes(node))
                    info.models[node.name] = Model(node.name, table, dotted, owned)


def _tablename(node: ast.ClassDef) -> str | None:
    for stmt in node.body:
        if (
            isinstance(stmt, ast.Assign | ast.AnnAssign)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in targets):
                return stmt.value.value
    return None


def _attributes(node: ast.ClassDef) -> set[str]:
    names = set()
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
        elif isinstance(stmt, ast.Assign):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return names


_ROUTE = re.compile(
    r"""(?:url_prefix\s*=\s*|\.(?:route|get|post|put|patch|delete)\(\s*)["'](/[^"']*)"""
)


def url_prefixes(info: ProjectInfo) -> set[str]:
    """Every route string and blueprint prefix written in the package (by reading it)."""
    found: set[str] = set()
    for path in info.package_dir.rglob("*.py"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found.update(m.group(1) for m in _ROUTE.finditer(text))
    return found


def migration_head(versions: Path) -> str | None:
    """The single head revision of the Alembic migrations in ``versions`` (None: no revision).

    Read from the revision files themselves (``revision`` and ``down_revision``), as
    Alembic's script directory does, without a database.
    """
    revisions: dict[str, tuple[str, ...]] = {}
    for path in sorted(versions.glob("*.py")):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError):
            raise GenerateError(
                f"{path} does not parse: fix the migration first. Nothing was written."
            ) from None
        values: dict[str, object] = {}
        for node in tree.body:
            target = None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            if isinstance(target, ast.Name) and target.id in {"revision", "down_revision"}:
                with contextlib.suppress(ValueError):
                    values[target.id] = ast.literal_eval(value)
        revision = values.get("revision")
        if not isinstance(revision, str):
            continue
        down = values.get("down_revision")
        if isinstance(down, str):
            parents: tuple[str, ...] = (down,)
        elif isinstance(down, tuple | list):
            parents = tuple(str(d) for d in down)
        else:
            parents = ()
        revisions[revision] = parents
    if not revisions:
        return None
    referenced = {parent for parents in revisions.values() for parent in parents}
    heads = sorted(set(revisions) - referenced)
    if len(heads) != 1:
        raise GenerateError(
            f"The migrations in {versions} have {len(heads)} heads ({', '.join(heads)}): merge "
            "them first (flask db merge heads -m 'merge'). Nothing was written."
        )
    return heads[0]
