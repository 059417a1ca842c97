"""Loading template.toml and finding the built-in templates."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import webkit_cli
from tests.scaffold.helpers import TINY_TOML, make_template
from webkit_cli.errors import TemplateError
from webkit_cli.scaffold.render import iter_render
from webkit_cli.scaffold.template import (
    Template,
    builtin_template_names,
    builtin_templates_dir,
    list_templates,
    load_template,
    resolve_template,
)


def test_load_the_tiny_template(tmp_path: Path) -> None:
    tpl = load_template(make_template(tmp_path / "tiny"))
    assert (tpl.name, tpl.version, tpl.description) == ("tiny", "0.3.0", "A tiny test template")
    assert tpl.skip_if_exists == (".env",)
    assert [q.name for q in tpl.questions] == ["database", "docker", "db_name"]
    assert tpl.questions[0].choices == ("sqlite", "postgresql")
    assert tpl.questions[1].type == "bool"
    assert tpl.questions[2].validator == "identifier"


def test_builtin_templates_are_found_next_to_the_package() -> None:
    base = builtin_templates_dir()
    assert base is not None
    package_dir = Path(webkit_cli.__file__).resolve().parent
    assert base in (package_dir / "project_templates", package_dir.parent / "project_templates")
    for name in builtin_template_names():
        assert resolve_template(name).root == base / name


def test_resolve_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_template(tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    assert resolve_template("./mine").name == "tiny"
    assert resolve_template(str(tmp_path / "mine")).name == "tiny"
    # A bare name that is not a built-in but is a folder here also works.
    assert resolve_template("mine").name == "tiny"


def test_unknown_template_lists_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateError, match=r"Unknown template 'nope': use one of .*--list"):
        resolve_template("nope")


def test_missing_folder_and_missing_toml(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        load_template(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TemplateError, match="has no template.toml"):
        load_template(tmp_path / "empty")


def test_missing_files_folder(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "template.toml").write_text(TINY_TOML)
    with pytest.raises(TemplateError, match="has no files/ folder"):
        load_template(root)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[template\n", "is not valid TOML"),
        ('name = "x"\n', r"the \[template\] table is missing"),
        ('[template]\nversion = "1"\n', "'name' is required"),
        ('[template]\nname = "x"\n', "'version' is required"),
        ('[template]\nname = 3\nversion = "1"\n', "'name' must be a string"),
        ('[template]\nname = "x"\nversion = "1"\nskip_if_exists = ".env"\n', "skip_if_exists"),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nhelp = "h"\n',
            "'name' is required",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "a-b"\n',
            "must be an identifier",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "package"\n',
            "is a built-in variable",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "a"\ntype = "float"\n',
            "type must be one of",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "a"\ntype = "choice"\n',
            "needs 'choices'",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "a"\ntype = "choice"\n'
            'choices = ["b"]\ndefault = "c"\n',
            "is not one of the choices",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "a"\nvalidator = "zip"\n',
            "validator must be one of",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "a"\n'
            'validator = "^(x$"\n',
            "bad validator regex",
        ),
        (
            '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "a"\n'
            '[[questions]]\nname = "a"\n',
            "defined twice",
        ),
    ],
)
def test_malformed_template_toml(tmp_path: Path, toml: str, message: str) -> None:
    root = make_template(tmp_path / "bad", files={}, toml=toml)
    with pytest.raises(TemplateError, match=message) as info:
        load_template(root)
    assert "template.toml" in info.value.message


# --- a base: extends = "NAME" --------------------------------------------------------


def _toml(name: str, extends: str | None = None, questions: str = "") -> str:
    line = f'extends = "{extends}"\n' if extends is not None else ""
    return f'[template]\nname = "{name}"\nversion = "1.0.0"\n{line}{questions}'


def _render(tpl: Template) -> dict[str, bytes | None]:
    context = {"name": "demo", "package": "demo", "greeting": "hi", "flavour": "plain"}
    return {e.path.as_posix(): e.data for e in iter_render(tpl, context)}


def test_a_base_lays_its_files_under_the_templates_own(tmp_path: Path) -> None:
    base_questions = (
        '[[questions]]\nname = "greeting"\ndefault = "hi"\n'
        '[[questions]]\nname = "flavour"\ndefault = "base"\n'
    )
    make_template(
        tmp_path / "_base",
        files={
            "shared.txt": "from the base\n",
            "both.txt": "the base's\n",
            "src/{{ package }}/db.py": "DB = 1\n",
            "README.md.jinja": "base readme {{ name }}\n",
        },
        toml=_toml("_base", questions='skip_if_exists = [".env"]\n' + base_questions),
    )
    own_questions = (
        '[[questions]]\nname = "flavour"\ndefault = "plain"\n[[questions]]\nname = "extra"\n'
    )
    root = make_template(
        tmp_path / "child",
        files={
            "both.txt": "the child's\n",
            "src/{{ package }}/views.py": "VIEWS = 1\n",
            # Another source name for the same output path: the child's still wins.
            "README.md": "child readme\n",
        },
        toml=_toml("child", "_base", own_questions),
    )
    tpl = load_template(root)
    assert tpl.bases == (tmp_path / "_base",)
    assert tpl.files_dirs == (root / "files", tmp_path / "_base" / "files")
    assert [q.name for q in tpl.questions] == ["greeting", "flavour", "extra"]
    assert tpl.questions[1].default == "plain"  # the child's question replaces the base's
    assert tpl.skip_if_exists == (".env",)
    assert _render(tpl) == {
        "README.md": b"child readme\n",
        "both.txt": b"the child's\n",
        "shared.txt": b"from the base\n",
        "src": None,
        "src/demo": None,
        "src/demo/db.py": b"DB = 1\n",
        "src/demo/views.py": b"VIEWS = 1\n",
    }


def test_bases_chain(tmp_path: Path) -> None:
    make_template(tmp_path / "a", files={"a.txt": "a\n", "x.txt": "from a\n"}, toml=_toml("a"))
    make_template(tmp_path / "b", files={"x.txt": "from b\n"}, toml=_toml("b", "a"))
    root = make_template(tmp_path / "c", files={"c.txt": "c\n"}, toml=_toml("c", "b"))
    tpl = load_template(root)
    assert tpl.bases == (tmp_path / "b", tmp_path / "a")
    assert _render(tpl) == {"a.txt": b"a\n", "c.txt": b"c\n", "x.txt": b"from b\n"}


# --- partials/: files that only {% include %} and {% import %} read ---------------------


def test_partials_are_included_along_the_bases_and_never_written(tmp_path: Path) -> None:
    """A base's partial serves every template that extends it; a nearer template's partial
    of the same name replaces it; no partial reaches the project."""
    from tests.conftest import build_file_tree

    make_template(
        tmp_path / "_common",
        files={"common.txt.jinja": '{% include "shared/line.txt" %}'},
        toml=_toml("_common"),
    )
    build_file_tree(
        tmp_path / "_common" / "partials",
        {
            "shared/line.txt": "line of _common\n",
            "shared/table.py": (
                '{% macro table(name, extra="") -%}\n'
                'TABLE = "{{ name }}"{{ extra }}\n'
                "{%- endmacro %}\n"
            ),
        },
    )
    make_template(tmp_path / "_base", files={}, toml=_toml("_base", "_common"))
    build_file_tree(tmp_path / "_base" / "partials", {"shared/line.txt": "line of _base\n"})
    root = make_template(
        tmp_path / "child",
        files={
            "src/{{ package }}/models.py.jinja": (
                '{% from "shared/table.py" import table %}'
                '{{ table("users", "  # " ~ package) }}\n'
                '{% include "shared/line.txt" %}'
            ),
        },
        toml=_toml("child", "_base"),
    )
    tpl = load_template(root)
    assert tpl.include_dirs == (
        root / "files",
        tmp_path / "_base" / "partials",
        tmp_path / "_base" / "files",
        tmp_path / "_common" / "partials",
        tmp_path / "_common" / "files",
    )
    assert _render(tpl) == {
        # _common's own file includes by the same search: _base's partial is nearer.
        "common.txt": b"line of _base\n",
        "src": None,
        "src/demo": None,
        "src/demo/models.py": b'TABLE = "users"  # demo\nline of _base\n',
    }


def test_an_error_in_a_partial_names_the_partial_and_its_line(tmp_path: Path) -> None:
    from tests.conftest import build_file_tree

    make_template(tmp_path / "_base", files={}, toml=_toml("_base"))
    build_file_tree(tmp_path / "_base" / "partials", {"part.txt": "ok\n{{ nope }}\n"})
    root = make_template(
        tmp_path / "child",
        files={"a.txt.jinja": '{% include "part.txt" %}'},
        toml=_toml("child", "_base"),
    )
    with pytest.raises(TemplateError) as info:
        _render(load_template(root))
    partial = tmp_path / "_base" / "partials" / "part.txt"
    assert info.value.message == f"{partial}:2: 'nope' is undefined."


def test_an_unknown_partial_is_one_error(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"a.txt.jinja": '{% include "none.txt" %}'})
    with pytest.raises(TemplateError, match=r"a\.txt\.jinja:1: 'none\.txt' not found"):
        _render(load_template(root))


def test_a_partial_may_not_be_a_symlink_out_of_the_template(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret\n")
    root = make_template(tmp_path / "t", files={"a.txt.jinja": '{% include "leak.txt" %}'})
    (root / "partials").mkdir()
    (root / "partials" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(TemplateError, match="outside the template's files/ folder"):
        _render(load_template(root))


def test_two_files_of_one_layer_for_one_path_are_still_refused(tmp_path: Path) -> None:
    make_template(tmp_path / "_base", files={"x": "1\n", "x.jinja": "2\n"}, toml=_toml("_base"))
    root = make_template(tmp_path / "child", files={}, toml=_toml("child", "_base"))
    with pytest.raises(TemplateError, match=r"_base/files/x.* both render to x"):
        _render(load_template(root))


def test_a_symlink_in_a_base_may_not_leave_the_bases_files(tmp_path: Path) -> None:
    make_template(tmp_path / "_base", files={}, toml=_toml("_base"))
    root = make_template(
        tmp_path / "child", files={"inside.txt": "x\n"}, toml=_toml("child", "_base")
    )
    (tmp_path / "_base" / "files" / "link.txt").symlink_to(root / "files" / "inside.txt")
    with pytest.raises(TemplateError, match=r"_base/files/link.txt is a symlink .* outside"):
        _render(load_template(root))


@pytest.mark.parametrize(
    ("extends", "message"),
    [
        ("missing", r"extends = 'missing', but .*missing is not a template"),
        ("../elsewhere", "must be the name of a folder next to child/"),
        ("/etc", "must be the name of a folder next to child/"),
        ("..", "must be the name of a folder next to child/"),
        ("sub\\\\dir", "must be the name of a folder next to child/"),
        ("child", r"makes a cycle \(child -> child\)"),
        ("loop", r"makes a cycle \(child -> loop -> child\)"),
    ],
)
def test_a_bad_base_is_one_error(tmp_path: Path, extends: str, message: str) -> None:
    make_template(tmp_path / "loop", files={}, toml=_toml("loop", "child"))
    root = make_template(tmp_path / "child", files={}, toml=_toml("child", extends))
    with pytest.raises(TemplateError, match=message) as info:
        load_template(root)
    assert "template.toml" in info.value.message
    assert "\n" not in info.value.message


def test_builtin_bases_are_neither_listed_nor_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = builtin_templates_dir()
    assert base is not None
    assert (base / "_web" / "template.toml").is_file()
    assert "_web" not in builtin_template_names()
    assert "_web" not in [t.root.name for t in list_templates()]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateError, match="Unknown template '_web'"):
        resolve_template("_web")
    assert "_common" not in builtin_template_names()
    for name in ("site", "ajax"):
        assert resolve_template(name).bases == (base / "_web", base / "_common")
    assert resolve_template("api").bases == (base / "_common",)


def _builtin_context(tpl: Template) -> dict[str, object]:
    """Fixed answers for rendering a built-in template in memory (its defaults)."""
    return {
        "name": "demo",
        "package": "demo",
        "description": "d",
        "author": "a",
        "year": 2026,
        "secret_key": "k" * 64,
        "webkit_version": "0",
        "template_name": tpl.name,
        "template_version": tpl.version,
        **{q.name: q.default for q in tpl.questions},
    }


def test_every_builtin_partial_is_used_and_none_is_written() -> None:
    """A partial nobody includes is a dead copy that a fix could land in; a partial in the
    output would be a stray file in every project."""
    base = builtin_templates_dir()
    assert base is not None
    templates = [load_template(base / name) for name in builtin_template_names()]
    sources = [
        path.read_text(encoding="utf-8")
        for tpl in templates
        for folder in tpl.include_dirs
        for path in folder.rglob("*")
        if path.is_file() and (path.suffix == ".jinja" or folder.name == "partials")
    ]
    partials = {
        path.relative_to(root / "partials").as_posix(): root.name
        for root in sorted(base.iterdir())
        if (root / "partials").is_dir()
        for path in (root / "partials").rglob("*")
        if path.is_file()
    }
    assert partials, "the built-in templates share their fragments through partials/"
    for name, owner in partials.items():
        assert any(f'"{name}"' in text for text in sources), f"{owner}/partials/{name} is unused"
    for tpl in templates:
        written = [e.path.as_posix() for e in iter_render(tpl, _builtin_context(tpl))]
        assert not [p for p in written if p.startswith("partials") or p in partials], tpl.name


@pytest.mark.parametrize("name", builtin_template_names())
def test_a_released_migration_renders_as_it_was_released(name: str, tmp_path: Path) -> None:
    """The migrations render their shared parts from partials/; a migration a project has
    applied is history, so each one the newest archive holds renders the same bytes today."""
    from webkit_cli.update.releases import _extract_zip, releases_dir, version_key

    folder = releases_dir()
    assert folder is not None
    path = max(folder.glob(f"{name}-*.zip"), key=lambda p: version_key(p.stem.rpartition("-")[2]))
    _extract_zip(path, tmp_path)

    def migrations(tpl: Template) -> dict[str, bytes | None]:
        return {
            e.path.name: e.data
            for e in iter_render(tpl, _builtin_context(tpl))
            if e.path.parent.as_posix() == "src/demo/migrations/versions"
        }

    then = migrations(load_template(tmp_path / name))
    base = builtin_templates_dir()
    assert base is not None
    now = migrations(load_template(base / name))
    assert len(then) >= 2
    assert {key: now.get(key) for key in then} == then


def test_private_files_are_written_for_their_owner_only(tmp_path: Path) -> None:
    from webkit_cli.scaffold.engine import create_project

    make_template(tmp_path / "_base", files={".env": "KEY=1\n"}, toml=_toml("_base"))
    base_toml = (tmp_path / "_base" / "template.toml").read_text()
    (tmp_path / "_base" / "template.toml").write_text(
        base_toml.replace("[template]\n", '[template]\nprivate = [".env"]\n')
    )
    root = make_template(tmp_path / "child", files={"a.txt": "a\n"}, toml=_toml("child", "_base"))
    tpl = load_template(root)
    assert tpl.private == (".env",)
    create_project(template=tpl, target=tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out" / ".env").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "out" / "a.txt").stat().st_mode) & 0o044  # as before


def test_private_must_be_a_list_of_paths(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={}, toml=_toml("t") + 'private = ".env"\n')
    with pytest.raises(TemplateError, match="'private' must be a list of relative paths"):
        load_template(root)
