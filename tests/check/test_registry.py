"""The rule catalogue and the check registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.check.helpers import check, locations, make_project
from webkit_cli.check.registry import CheckRegistry, registry
from webkit_cli.check.rules import RULES, AppUse


def test_the_catalogue_imports_nothing_of_the_check_package() -> None:
    import webkit_cli.check.rules as rules

    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [name for name in imported if name.startswith("webkit_cli")]


def test_needing_the_app_is_declared_on_the_rule_only() -> None:
    needs = {code for code, rule in RULES.items() if rule.needs_import}
    assert needs == {
        "P003", "P004", "R001", "R002", "R003", "R004", "R005", "L001", "L002", "L003", "D001"
    }  # fmt: skip
    assert {code for code, rule in RULES.items() if rule.app is AppUse.READS} == {
        "T001", "T002", "T003"
    }  # fmt: skip
    for item in registry:
        assert item.needs_import == any(RULES[c].needs_import for c in item.codes)


def test_a_registry_refuses_unknown_codes_and_half_app_checks() -> None:
    own = CheckRegistry()
    with pytest.raises(KeyError, match="X999"):
        own.add(["X999"], lambda ctx: [])
    with pytest.raises(ValueError, match="disagree"):
        own.add(["L001", "S001"], lambda ctx: [])
    assert len(own) == 0


def test_a_run_uses_only_the_registry_it_is_given(tmp_path: Path) -> None:
    from webkit_cli.check.findings import finding

    own = CheckRegistry()

    @own.register("H002")
    def every_file(ctx: object) -> list[object]:
        return [finding("H002", "README.md", None, "custom")]

    root = make_project(tmp_path / "p", {"src/demo/config.py": 'SECRET_KEY = "x"\n'})
    # S001 is not found: the default registry's checks are not run
    assert locations(check(root, registry=own, no_import=True)) == [("H002", "README.md", None)]
    assert [f.code for f in check(root, no_import=True).findings] == ["S001"]
