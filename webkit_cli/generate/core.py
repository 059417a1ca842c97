"""``webkit generate``: plan every file and edit first, then write them all or nothing.

The plan renders the generator's ``files/`` with the resource's context, lists the files
that already exist (a conflict unless ``--force``), and makes each edit of the user's
files in memory. Writing goes through :func:`webkit_cli.scaffold.write.apply_force`: every
new file is added and every edited file replaced atomically, with a journal, and on any
failure or Ctrl-C the project is restored as it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from webkit_cli.generate.edits import Applied, Edit, apply_edit
from webkit_cli.generate.fields import REF, Field, GenerateError, parse_fields
from webkit_cli.generate.generator import Generator
from webkit_cli.generate.naming import ResourceNames, resource_names
from webkit_cli.generate.project import ProjectInfo, migration_head, url_prefixes
from webkit_cli.scaffold.render import Entry


@dataclass
class GeneratePlan:
    info: ProjectInfo
    generator: Generator
    names: ResourceNames
    fields: list[Field]
    add: list[Entry] = field(default_factory=list)
    conflicts: list[Entry] = field(default_factory=list)  # exist and differ
    unchanged: list[PurePosixPath] = field(default_factory=list)
    edited: list[Entry] = field(default_factory=list)  # the user's files, with the edits made
    applied: list[Applied] = field(default_factory=list)
    already: list[Edit] = field(default_factory=list)  # edits the files already have
    migration: str | None = None  # the new revision, when one is written


def python_literal(value: Any) -> str:
    """A Jinja filter for generators: ``{{ field.sample(1) | py }}`` → Python source.

    A long run of one character (a value past a field's maximum) is written as ``"x" * N``,
    so the generated test stays within the line length.
    """
    import json

    from webkit_cli.generate.fields import _literal

    if isinstance(value, dict | list) and _plain_json(value):
        return json.dumps(value)  # JSON of strings and numbers is Python, in ruff's quotes
    if isinstance(value, str):
        if len(value) > 20 and len(set(value)) == 1:
            return f"{json.dumps(value[0])} * {len(value)}"
        return json.dumps(value, ensure_ascii=False)  # double quotes, as ruff format writes
    return _literal(value)


def format_call(head: str, args: Any, indent: int = 4, tail: str = "") -> str:
    """A Jinja global: ``head(args…)tail`` laid out as ruff format would: on one line when it
    fits in 100 columns, else the arguments on one indented line, else one per line."""
    pad = " " * indent
    items = [str(a) for a in args]
    one = f"{pad}{head}({', '.join(items)}){tail}"
    if len(one) <= 100:
        return one
    middle = f"{pad}    {', '.join(items)}"
    if len(middle) <= 100 and not any("\n" in i for i in items):
        return f"{pad}{head}(\n{middle}\n{pad}){tail}"
    body = "".join(f"{pad}    {item},\n" for item in items)
    return f"{pad}{head}(\n{body}{pad}){tail}"


def _plain_json(value: Any) -> bool:
    """Only strings, numbers, lists and dicts with string keys: its JSON is Python too."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def isort_block(statements: Any) -> str:
    """A Jinja filter: ``from X import a, b`` statements merged and ordered as ruff's isort
    (its defaults) wants them within one section, long ones wrapped in parentheses."""
    from webkit_cli.generate.edits import _format_import, _isort_key, _parse_import

    merged: dict[str, set[str]] = {}
    for statement in statements:
        if not statement:
            continue
        module, names = _parse_import(str(statement))
        merged.setdefault(module, set()).update(names)

    def module_key(module: str) -> tuple[int, str]:
        dots = len(module) - len(module.lstrip("."))
        return -dots, module.lstrip(".").lower()  # furthest relative first, then by name

    return "\n".join(
        _format_import(module, sorted(merged[module], key=_isort_key))
        for module in sorted(merged, key=module_key)
    )


def _resolve_refs(info: ProjectInfo, names: ResourceNames, fields: list[Field]) -> list[Field]:
    out = []
    for f in fields:
        if f.type != REF:
            out.append(f)
            continue
        assert f.ref is not None
        if f.ref.replace("_", "").lower() in {names.singular.replace("_", ""), names.model.lower()}:
            # A reference to the resource itself (a parent post): the model being made.
            out.append(
                replace(
                    f,
                    ref=names.model,
                    ref_table=names.table,
                    ref_module=f"{names.module}.models",
                    ref_owned=info.user_model is not None,
                )
            )
            continue
        model = info.model_for(f.ref)
        if model is None:
            known = ", ".join(sorted(info.models)) or "none"
            raise GenerateError(
                f"{f.name}:ref:{f.ref}: the project has no model {f.ref!r} (models: {known}). "
                "Generate it first."
            )
        out.append(
            replace(
                f,
                ref=model.name,
                ref_table=model.table,
                ref_module=model.module,
                ref_owned=model.owned,
            )
        )
    return out


def _check_new_resource(info: ProjectInfo, names: ResourceNames) -> None:
    for model in info.models.values():
        if model.name == names.model or model.table == names.table:
            raise GenerateError(
                f"The project already has a model {model.name} (table {model.table}, in "
                f"{info.package}/{model.module.replace('.', '/')}.py): choose another name."
            )
    if names.module in info.modules or any(m.startswith(names.module + ".") for m in info.modules):
        raise GenerateError(
            f"{info.package}.{names.module} already exists in the project: choose another "
            "resource name."
        )
    taken = [p for p in url_prefixes(info) if p == names.url or p.startswith(names.url + "/")]
    if taken:
        raise GenerateError(
            f"The project already has routes under {names.url} ({taken[0]}): choose another "
            "resource name."
        )


def _check_template_version(info: ProjectInfo, generator: Generator) -> None:
    """A built-in generator writes code for the template versions that shipped it (their
    migrations, helpers and URL converters): an older project gets broken files."""
    from webkit_cli.generate.generator import builtin_generator_since
    from webkit_cli.update.releases import version_key

    if info.template_source is not None:
        return  # a template folder or git URL: its generators are its own
    since = builtin_generator_since(info.template, generator.name)
    if since is None or version_key(info.template_version) >= version_key(since):
        return
    raise GenerateError(
        f"The project is at template {info.template} {info.template_version}, which had no "
        f"{generator.name!r} generator (it came with {info.template} {since}, and what it "
        "writes needs that version's app and migrations): update the project first with "
        "'webkit update', then run this command again. Nothing was written."
    )


def build_context(
    info: ProjectInfo, names: ResourceNames, fields: list[Field], **extra: Any
) -> dict[str, Any]:
    user = info.user_model
    return {
        **{k: v for k, v in info.answers.items()},
        "package": info.package,
        "template": info.template,
        "resource": names,
        "fields": fields,
        "models": info.models,
        "accounts": user is not None,
        "user_model": user,
        **extra,
    }


def plan_generate(
    info: ProjectInfo,
    generator: Generator,
    name: str,
    specs: list[str],
    *,
    migration: bool = True,
) -> GeneratePlan:
    """Everything the generator would write and edit; nothing is written here."""
    from webkit_cli.scaffold.render import Renderer, iter_render
    from webkit_cli.scaffold.template import Template

    _check_template_version(info, generator)
    names = resource_names(name)
    _check_new_resource(info, names)
    fields = _resolve_refs(info, names, parse_fields(specs))
    if not fields:
        raise GenerateError(
            f"Give {names.singular} at least one field, as in: webkit generate {generator.name} "
            f"{names.singular} title:str:required body:text."
        )
    revision = down_revision = None
    renderer = Renderer()
    renderer.env.filters["py"] = python_literal
    renderer.env.filters["isort"] = isort_block
    renderer.env.globals["call"] = format_call
    base_context = build_context(info, names, fields, **dict(generator.context))
    migrations = (
        renderer.render_text(generator.migrations, base_context) if generator.migrations else None
    )
    if migration and migrations:
        versions = info.root / migrations
        if not versions.is_dir():
            raise GenerateError(
                f"The project has no {migrations}/ folder for migrations: restore it, or add "
                "--no-migration and write the migration yourself."
            )
        down_revision = migration_head(versions)
        revision = next_revision(versions, down_revision)
    context = build_context(
        info,
        names,
        fields,
        **dict(generator.context),
        migration={"revision": revision, "down_revision": down_revision} if revision else None,
        webkit_generator=generator.name,
    )
    # The generator is a template folder: the same walk, sandbox and limits as webkit new.
    template = Template(root=generator.root, name=generator.name, version="", bases=generator.bases)
    plan = GeneratePlan(info=info, generator=generator, names=names, fields=fields)
    root_real = info.root.resolve()
    skipped = PurePosixPath(migrations) if migrations and not revision else None
    for entry in iter_render(template, context, renderer):
        if entry.is_dir:
            continue
        if skipped is not None and entry.path.is_relative_to(skipped):
            continue  # --no-migration: the revision file is not written
        dest = info.root / entry.path
        if not dest.resolve().is_relative_to(root_real):
            raise GenerateError(
                f"{entry.path} leads outside the project (a symlink). Nothing was written."
            )
        if dest.is_dir():
            raise GenerateError(
                f"{entry.path} is a folder in the project; move it away. Nothing was written."
            )
        if dest.exists():
            if dest.read_bytes() == entry.data:
                plan.unchanged.append(entry.path)
            else:
                plan.conflicts.append(entry)
        else:
            plan.add.append(entry)
    plan.migration = revision if migration else None
    _plan_edits(plan, context, renderer)
    return plan


def next_revision(versions: Path, head: str | None) -> str:
    """The next revision id: the number after the head's when the project numbers its
    revisions (``0001``, ``0002``: the templates' style), else a random one like Alembic's."""
    if head is None:
        return "0001"
    if head.isdigit():
        number = int(head) + 1
        while any(versions.glob(f"{number:0{len(head)}d}_*.py")):
            number += 1
        return f"{number:0{len(head)}d}"
    return uuid.uuid4().hex[:12]


def _plan_edits(plan: GeneratePlan, context: dict[str, Any], renderer: Any) -> None:
    from webkit_cli.scaffold.render import RenderError

    texts: dict[str, str] = {}
    for spec in plan.generator.edits:
        try:
            edit = Edit(
                file=renderer.render_text(spec.file, context),
                why=renderer.render_text(spec.why, context),
                kind=spec.kind,
                text=renderer.render_text(spec.text, context),
                anchor=spec.anchor,
                within=spec.within,
            )
        except RenderError as exc:
            raise GenerateError(
                f"{plan.generator.root / 'generator.toml'}: an edit does not render: {exc}."
            ) from None
        path = plan.info.root / edit.file
        if edit.file not in texts:
            try:
                texts[edit.file] = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise GenerateError(
                    f"{edit.file} is not in the project ({edit.why}): the generator expects it. "
                    "Nothing was written."
                ) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise GenerateError(
                    f"Cannot read {edit.file}: {exc}. Nothing was written."
                ) from None
        texts[edit.file], applied = apply_edit(texts[edit.file], edit)
        if applied is None:
            plan.already.append(edit)
        else:
            plan.applied.append(applied)
    for file, text in texts.items():
        path = plan.info.root / file
        data = text.encode("utf-8")
        if data != path.read_bytes():
            mode = path.stat().st_mode & 0o777
            plan.edited.append(Entry(PurePosixPath(file), data, mode))


def apply_plan(plan: GeneratePlan, *, force: bool) -> None:
    """Write the plan: all of it, or (on any failure or interruption) none of it."""
    from webkit_cli.scaffold.write import ForcePlan, apply_force, conflict_message

    if plan.conflicts and not force:
        message = conflict_message([e.path for e in plan.conflicts])
        raise GenerateError(
            message.replace("from the template", "from what the generator writes").replace(
                "--overwrite", "--force"
            )
        )
    force_plan = ForcePlan()
    force_plan.add = list(plan.add)
    force_plan.replace = [*plan.conflicts, *plan.edited]
    force_plan.unchanged = list(plan.unchanged)
    apply_force(force_plan, plan.info.root, overwrite=True)
