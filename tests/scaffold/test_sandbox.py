"""Templates render in a sandbox: no Python internals, bounded output, includes from files/."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scaffold.helpers import make_template
from webkit_cli.errors import TemplateError
from webkit_cli.scaffold.render import Renderer, iter_render
from webkit_cli.scaffold.sandbox import MAX_SIZE
from webkit_cli.scaffold.template import load_template

CONTEXT: dict[str, Any] = {"name": "my-site", "package": "my_site"}
TOML = '[template]\nname = "t"\nversion = "1"\n'


def render(root: Path) -> dict[str, bytes | None]:
    tpl = load_template(root)
    return {e.path.as_posix(): e.data for e in iter_render(tpl, CONTEXT, Renderer())}


def failure(tmp_path: Path, source: str, **extra: str) -> str:
    root = make_template(tmp_path / "t", files={"a.txt.jinja": source, **extra}, toml=TOML)
    with pytest.raises(TemplateError) as info:
        render(root)
    return info.value.message


def test_python_internals_are_refused_with_file_and_line(tmp_path: Path) -> None:
    message = failure(tmp_path, "ok\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    path = tmp_path / "t" / "files" / "a.txt.jinja"
    assert message.startswith(f"{path}:2: the sandbox refused it")
    assert "__class__" in message


@pytest.mark.parametrize(
    "expression",
    [
        "'x' * 10**10",
        "10**10 * 'x'",
        "[1] * 10**10",
        "'x'.ljust(10**10)",
        "'x'.center(10**10)",
        "'{:>10000000000}'.format(1)",
        "'%*d' % (10**10, 1)",
        "'%10000000000d' % 1",
        "'x' | center(10**10)",
        "'x' | indent(10**10)",
        "10 ** (10 ** 10)",
        "('x' * 10**7).replace('x', 'y' * 100)",
        "lipsum(10**6)",
    ],
)
def test_huge_values_are_refused_before_they_are_built(tmp_path: Path, expression: str) -> None:
    # Without the bounds each of these takes gigabytes (or, for the power, minutes).
    message = failure(tmp_path, "{{ " + expression + " }}\n")
    assert ":1: the template builds" in message
    assert "above webkit's limit" in message


def test_a_doubling_loop_through_a_namespace_is_bounded(tmp_path: Path) -> None:
    source = (
        "{% set ns = namespace(s='x') %}"
        "{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"
    )
    assert "above webkit's limit" in failure(tmp_path, source)


def test_the_output_of_one_file_is_bounded(tmp_path: Path) -> None:
    # Each piece is small, the whole is 100 MB: the render stops at the limit.
    source = "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"
    message = failure(tmp_path, source)
    assert f"the output passes webkit's limit of {MAX_SIZE:,} characters" in message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_memory_the_checks_cannot_see_is_a_memory_error(tmp_path: Path) -> None:
    # A long ~ chain of big strings: each operand is within bounds, the join is 2 GB.
    source = "{% set a = 'x' * 16000000 %}{{ (" + " ~ ".join(["a"] * 130) + ") | length }}"
    message = failure(tmp_path, source)
    assert "more memory than webkit allows a template (MemoryError)" in message


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    source = "{% if true %}" * 300 + "x" + "{% endif %}" * 300
    message = failure(tmp_path, source)
    assert "nested too deeply (RecursionError)" in message


def test_include_and_import_load_from_the_templates_files(tmp_path: Path) -> None:
    files = {
        "a.txt.jinja": (
            '{% import "partials/macros.txt" as m %}'
            '{% include "partials/header.txt" %}{{ m.shout(name) }}\n'
        ),
        "partials/header.txt": "Hello {{ name }}\n",
        "partials/macros.txt": "{% macro shout(s) %}{{ s | upper }}!{% endmacro %}",
    }
    root = make_template(tmp_path / "t", files=files, toml=TOML)
    out = render(root)
    assert out["a.txt"] == b"Hello my-site\nMY-SITE!\n"
    # The partials are ordinary files of the template too: copied as they are.
    assert out["partials/header.txt"] == b"Hello {{ name }}\n"


def test_include_cannot_leave_the_files_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    message = failure(tmp_path, '{% include "../template.toml" %}')
    assert "template.toml" in message
    root = tmp_path / "t2"
    make_template(root, files={"a.txt.jinja": '{% include "link.txt" %}'}, toml=TOML)
    (root / "files" / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(TemplateError) as info:
        render(root)
    assert "outside the template" in info.value.message
    assert "secret" not in info.value.message.replace("secret.txt", "")


def test_an_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    message = failure(
        tmp_path, 'top\n{% include "inc.txt" %}\n', **{"inc.txt": "one\n{{ missing }}\n"}
    )
    assert message.startswith(f"{tmp_path / 't' / 'files' / 'inc.txt'}:2: 'missing' is undefined")


def test_a_python_error_in_a_template_is_a_template_error(tmp_path: Path) -> None:
    message = failure(tmp_path, "a\nb\n{{ 1 // 0 }}\n")
    assert message.endswith("a.txt.jinja:3: ZeroDivisionError: integer division or modulo by zero.")


def test_path_segments_and_defaults_are_sandboxed_too(tmp_path: Path) -> None:
    files = {"{{ ''.__class__.__name__ }}.txt": "x"}
    root = make_template(tmp_path / "t", files=files, toml=TOML)
    with pytest.raises(TemplateError, match="does not render: access to attribute '__class__'"):
        render(root)


def test_memory_limit_is_restored_after_a_render(tmp_path: Path) -> None:
    resource = pytest.importorskip("resource")
    before = resource.getrlimit(resource.RLIMIT_AS)
    root = make_template(tmp_path / "t", files={"a.txt.jinja": "{{ name }}"}, toml=TOML)
    assert render(root)["a.txt"] == b"my-site"
    failure(tmp_path / "again", "{{ 'x' * 10**10 }}")
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert os.environ.get("WEBKIT_CACHE_DIR")  # the fixture's cache, not the user's
