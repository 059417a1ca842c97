"""Loading template.toml and finding the built-in templates."""

from __future__ import annotations

from pathlib import Path

import pytest

import webkit_cli
from tests.scaffold.helpers import TINY_TOML, make_template
from webkit_cli.errors import TemplateError
from webkit_cli.scaffold.template import (
    builtin_template_names,
    builtin_templates_dir,
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
