"""The template model: ``template.toml`` plus a ``files/`` tree.

The built-in templates use exactly this format, so ``--template ./my-template`` works
for any user's template folder (see TEMPLATE_FORMAT.md in the project notes).

A template may extend a base (``extends = "_web"``: a sibling folder, itself a template):
the base's ``files/`` are laid under the template's own, the template's own file winning,
and its questions and ``skip_if_exists`` come first. A template (or base) may also have a
``partials/`` folder beside ``files/``: files there are never written to the project, only
included or imported by the files that are (``{% include %}``, ``{% from ... import %}``),
so templates share a fragment of a file that each of them writes whole. Built-in folders
whose name starts with ``_`` are bases only: ``webkit new --list`` does not show them and
``-t`` refuses them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from webkit_cli.errors import TemplateError

QUESTION_TYPES = ("str", "bool", "int", "choice")
NAMED_VALIDATORS = ("identifier", "project_name", "email", "nonempty")
#: Names every template gets for free; a question may not redefine them.
BUILTIN_VARIABLES = frozenset(
    {
        "name",
        "package",
        "description",
        "author",
        "year",
        "secret_key",
        "webkit_version",
        "template_name",
        "template_version",
    }
)

Answer = str | bool | int
#: The folder beside ``files/`` whose files only ``{% include %}``/``{% import %}`` read.
PARTIALS_DIR = "partials"


# NamedTuples rather than dataclasses: a dataclass costs ~0.5 ms to create at import
# (it exec()s generated code), and ``webkit new`` is measured in tens of milliseconds.
class Question(NamedTuple):
    """One ``[[questions]]`` entry."""

    name: str
    type: str = "str"
    help: str = ""
    choices: tuple[str, ...] = ()
    default: Answer | None = None
    validator: str | None = None

    @property
    def prompt_text(self) -> str:
        return self.help or self.name.replace("_", " ").capitalize()


class Template(NamedTuple):
    """A loaded template folder."""

    root: Path
    name: str
    version: str
    description: str = ""
    skip_if_exists: tuple[str, ...] = ()
    questions: tuple[Question, ...] = ()
    #: Output paths written readable by their owner only (0600): files that hold secrets.
    private: tuple[str, ...] = ()
    #: The roots of the templates it extends, nearest first.
    bases: tuple[Path, ...] = ()

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    @property
    def files_dirs(self) -> tuple[Path, ...]:
        """Its own ``files/`` then each base's: an output path comes from the first that has it."""
        return (self.files_dir, *(base / "files" for base in self.bases))

    @property
    def include_dirs(self) -> tuple[Path, ...]:
        """Where ``{% include %}`` and ``{% import %}`` find a name: the template's own
        ``partials/`` and ``files/``, then each base's, nearest first."""
        return tuple(
            folder
            for root in (self.root, *self.bases)
            for folder in (root / PARTIALS_DIR, root / "files")
            if folder.is_dir()
        )


def builtin_templates_dir() -> Path | None:
    """``project_templates/`` inside the installed package, else the repository's (editable)."""
    import webkit_cli

    package_dir = Path(webkit_cli.__file__).resolve().parent
    for candidate in (package_dir / "project_templates", package_dir.parent / "project_templates"):
        if candidate.is_dir():
            return candidate
    return None


def builtin_template_names() -> list[str]:
    """Names of the built-in templates (folders that hold a template.toml)."""
    base = builtin_templates_dir()
    if base is None:
        return []
    return sorted(
        p.name
        for p in base.iterdir()
        if not _is_base_name(p.name) and (p / "template.toml").is_file()
    )


def _is_base_name(name: str) -> bool:
    """``_web``: a built-in base other templates extend, not a template to choose."""
    return name.startswith("_")


def list_templates() -> list[Template]:
    """Every built-in template, loaded (for ``webkit new --list``)."""
    base = builtin_templates_dir()
    return [load_template(base / name) for name in builtin_template_names()] if base else []


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or spec.startswith(("~", ".")) or Path(spec).is_absolute()


def resolve_template(spec: str) -> Template:
    """Load a template from a built-in name (``site``) or a folder path (``./my-template``)."""
    if not _looks_like_path(spec):
        base = builtin_templates_dir()
        if (
            base is not None
            and not _is_base_name(spec)
            and (base / spec / "template.toml").is_file()
        ):
            return load_template(base / spec)
        if not Path(spec).is_dir():
            names = ", ".join(builtin_template_names()) or "none installed"
            raise TemplateError(
                f"Unknown template {spec!r}: use one of {names} "
                "(see 'webkit new --list') or a path to a template folder."
            )
    return load_template(Path(spec).expanduser())


def _str(table: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = table.get(key)
    if value is None:
        if required:
            raise TemplateError(f"{where}: '{key}' is required.")
        return ""
    if not isinstance(value, str):
        raise TemplateError(f"{where}: '{key}' must be a string, not {type(value).__name__}.")
    return value


def _paths(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    """A list of output paths relative to the target (``skip_if_exists``, ``private``)."""
    paths = table.get(key, [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise TemplateError(f"{where}: '{key}' must be a list of relative paths.")
    return tuple(p.strip("/") for p in paths)


def _question(raw: object, index: int, toml_path: Path) -> Question:
    where = f"{toml_path}: [[questions]] #{index + 1}"
    if not isinstance(raw, dict):
        raise TemplateError(f"{where} must be a table.")
    name = _str(raw, "name", where, required=True)
    where = f"{toml_path}: question {name!r}"
    if not name.isidentifier():
        raise TemplateError(f"{where}: the name must be an identifier (it becomes a variable).")
    if name in BUILTIN_VARIABLES:
        raise TemplateError(f"{where}: {name!r} is a built-in variable; rename the question.")
    qtype = _str(raw, "type", where) or "str"
    if qtype not in QUESTION_TYPES:
        raise TemplateError(f"{where}: type must be one of {', '.join(QUESTION_TYPES)}.")
    choices = raw.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise TemplateError(f"{where}: 'choices' must be a list of strings.")
    if qtype == "choice" and not choices:
        raise TemplateError(f"{where}: a 'choice' question needs 'choices'.")
    default = raw.get("default")
    if default is not None and not isinstance(default, str | bool | int):
        raise TemplateError(f"{where}: 'default' must be a string, boolean or integer.")
    if (
        qtype == "choice"
        and isinstance(default, str)
        and "{" not in default
        and (default not in choices)
    ):
        raise TemplateError(f"{where}: default {default!r} is not one of the choices.")
    validator = raw.get("validator")
    if validator is not None:
        if not isinstance(validator, str):
            raise TemplateError(f"{where}: 'validator' must be a string.")
        if validator not in NAMED_VALIDATORS:
            if not (validator.startswith("^") and validator.endswith("$")):
                raise TemplateError(
                    f"{where}: validator must be one of {', '.join(NAMED_VALIDATORS)} "
                    "or a regular expression written '^...$'."
                )
            try:
                re.compile(validator)
            except re.error as exc:
                raise TemplateError(f"{where}: bad validator regex: {exc}.") from None
    return Question(
        name=name,
        type=qtype,
        help=_str(raw, "help", where),
        choices=tuple(choices),
        default=default,
        validator=validator,
    )


def load_template(root: Path, *, _extended_by: tuple[Path, ...] = ()) -> Template:
    """Read and check ``root/template.toml`` (and its bases); raise TemplateError with the fix
    when unusable."""
    import tomllib

    toml_path = root / "template.toml"
    if not root.is_dir():
        raise TemplateError(f"Template folder {root} does not exist: check the --template path.")
    if not toml_path.is_file():
        raise TemplateError(
            f"{root} is not a template: it has no template.toml (see 'webkit new --help')."
        )
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{toml_path} is not valid TOML: {exc}.") from None
    table = data.get("template")
    if not isinstance(table, dict):
        raise TemplateError(f"{toml_path}: the [template] table is missing.")
    where = f"{toml_path}: [template]"
    name = _str(table, "name", where, required=True)
    version = _str(table, "version", where, required=True)
    skip = _paths(table, "skip_if_exists", where)
    private = _paths(table, "private", where)
    raw_questions = data.get("questions", [])
    if not isinstance(raw_questions, list):
        raise TemplateError(f"{toml_path}: 'questions' must be an array of tables [[questions]].")
    questions = tuple(_question(q, i, toml_path) for i, q in enumerate(raw_questions))
    seen: set[str] = set()
    for q in questions:
        if q.name in seen:
            raise TemplateError(f"{toml_path}: question {q.name!r} is defined twice.")
        seen.add(q.name)
    if not (root / "files").is_dir():
        raise TemplateError(f"{root} has no files/ folder: put the tree to generate in files/.")
    template = Template(
        root=root,
        name=name,
        version=version,
        description=_str(table, "description", where),
        skip_if_exists=skip,
        questions=questions,
        private=private,
    )
    extends = _str(table, "extends", where)
    if not extends:
        return template
    return _extend(template, _load_base(root, extends, where, _extended_by))


def _load_base(root: Path, extends: str, where: str, extended_by: tuple[Path, ...]) -> Template:
    """The template named by ``extends``: a sibling folder of ``root``, never a path."""
    if extends in {".", ".."} or any(sep in extends for sep in ("/", "\\", "\x00", ":")):
        raise TemplateError(
            f"{where}: extends = {extends!r} must be the name of a folder next to "
            f'{root.name}/ (for example "_base"), not a path.'
        )
    base_root = root.parent / extends
    chain = (*extended_by, root.resolve())
    if base_root.resolve() in chain:
        names = " -> ".join([*(p.name for p in chain), extends])
        raise TemplateError(f"{where}: extends = {extends!r} makes a cycle ({names}): break it.")
    if not (base_root / "template.toml").is_file():
        raise TemplateError(
            f"{where}: extends = {extends!r}, but {base_root} is not a template "
            "(a folder with template.toml and files/): fix the name or add the base."
        )
    return load_template(base_root, _extended_by=chain)


def _extend(template: Template, base: Template) -> Template:
    """``template`` over ``base``: the base's questions first (one of the same name is
    replaced by the template's), both ``skip_if_exists`` and ``private`` lists, the base's
    files beneath."""
    own = {q.name: q for q in template.questions}
    questions = [own.pop(q.name, q) for q in base.questions]
    questions += [q for q in template.questions if q.name in own]
    skip = dict.fromkeys((*base.skip_if_exists, *template.skip_if_exists))
    private = dict.fromkeys((*base.private, *template.private))
    return template._replace(
        questions=tuple(questions),
        skip_if_exists=tuple(skip),
        private=tuple(private),
        bases=(base.root, *base.bases),
    )
