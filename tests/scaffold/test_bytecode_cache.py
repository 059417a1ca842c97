"""Compiled templates are kept in Jinja's bytecode cache and reused by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tests.scaffold.helpers import make_template
from webkit_cli.errors import TemplateError
from webkit_cli.scaffold.render import Renderer, cache_root, iter_render
from webkit_cli.scaffold.template import load_template

CONTEXT: dict[str, Any] = {"name": "my-site", "package": "my_site", "flag": False}


def render(root: Path, **overrides: Any) -> dict[str, bytes | None]:
    """One run: a fresh Renderer, as each `webkit new` process has."""
    entries = iter_render(
        load_template(root), {**CONTEXT, **overrides}, Renderer(cache_dir=cache_root(os.environ))
    )
    return {e.path.as_posix(): e.data for e in entries}


def cache_files() -> list[Path]:
    root = Path(os.environ["WEBKIT_CACHE_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file())


def forbid_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any compilation of a template file fail, so only cached code can render it."""
    real = jinja2.Environment.compile

    def compile_(self: jinja2.Environment, source: str, name: str | None = None, *a: Any, **k: Any):  # type: ignore[no-untyped-def]
        if name is not None:
            raise AssertionError(f"{name} was compiled again")
        return real(self, source, name, *a, **k)

    monkeypatch.setattr(jinja2.Environment, "compile", compile_)


FILES = {
    "README.md.jinja": "# {{ name }}\n",
    "{{ package }}/__init__.py.jinja": 'NAME = "{{ package }}"\n',
    "plain.txt": "{{ not rendered }}\n",
}


def test_first_run_fills_the_cache_and_the_second_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_template(tmp_path / "t", files=FILES)
    first = render(root)
    files = cache_files()
    assert len(files) == 2  # one per .jinja file; the copied file and the path are not files
    assert all(f.parent.name.startswith(f"jinja-{jinja2.__version__}-") for f in files)
    forbid_compiling(monkeypatch)
    assert render(root) == first
    assert first["README.md"] == b"# my-site\n"
    assert first["my_site/__init__.py"] == b'NAME = "my_site"\n'


def test_an_edited_template_is_compiled_again(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files=FILES)
    assert render(root)["README.md"] == b"# my-site\n"
    (root / "files" / "README.md.jinja").write_text("# {{ name }} v2\n")
    assert render(root)["README.md"] == b"# my-site v2\n"
    # Same names, other answers: cached code is not a cached output.
    assert render(root, name="other")["README.md"] == b"# other v2\n"


def test_errors_name_the_file_and_line_with_a_warm_cache(tmp_path: Path) -> None:
    # The undefined name is only reached with flag=True: the first run caches the code.
    source = "line1\n{% if flag %}\n{{ missing }}\n{% endif %}\n"
    root = make_template(tmp_path / "t", files={"a.txt.jinja": source})
    assert render(root)["a.txt"] == b"line1\n\n"  # the newline after endif is kept
    assert cache_files()
    path = root / "files" / "a.txt.jinja"
    with pytest.raises(TemplateError) as info:
        render(root, flag=True)
    assert info.value.message.startswith(f"{path}:3: 'missing' is undefined")
    # A syntax error added afterwards is not hidden by the cached code either.
    path.write_text("ok\n{{ name }\n")
    with pytest.raises(TemplateError, match=r"a\.txt\.jinja:2: Jinja syntax error"):
        render(root)


def test_a_corrupt_cache_file_is_a_miss(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files=FILES)
    first = render(root)
    for f in cache_files():
        f.write_bytes(b"not marshalled code")
    assert render(root) == first
    assert all(f.read_bytes() != b"not marshalled code" for f in cache_files())


def test_an_unusable_cache_dir_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # A regular file where a folder should be: no user, not even root, can create it.
    monkeypatch.setenv("WEBKIT_CACHE_DIR", str(blocker / "cache"))
    root = make_template(tmp_path / "t", files=FILES)
    assert render(root)["README.md"] == b"# my-site\n"
    assert render(root)["README.md"] == b"# my-site\n"
    assert blocker.read_text() == ""


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_read_only_cache_is_read_but_not_written(tmp_path: Path) -> None:
    """A warm cache in a folder the user cannot write: hits are used, misses still render."""
    root = make_template(tmp_path / "t", files=FILES)
    render(root)
    (root / "files" / "README.md.jinja").write_text("# {{ name }} edited\n")
    cache = Path(os.environ["WEBKIT_CACHE_DIR"])
    before = {p: p.read_bytes() for p in cache_files()}
    folders = [cache, *(p for p in cache.rglob("*") if p.is_dir())]
    code = (
        "import jinja2, os, pathlib\n"
        "from webkit_cli.scaffold.render import Renderer, cache_root, iter_render\n"
        "real = jinja2.Environment.compile; compiled = []\n"
        "def compile_(self, source, name=None, *a, **k):\n"
        "    compiled.append(pathlib.Path(name).name if name else name)\n"
        "    return real(self, source, name, *a, **k)\n"
        "jinja2.Environment.compile = compile_\n"
        "from webkit_cli.scaffold.template import load_template\n"
        f"tpl = load_template(pathlib.Path({str(root)!r}))\n"
        "ctx = {'name': 'n', 'package': 'p'}\n"
        "r = Renderer(cache_dir=cache_root(os.environ))\n"
        "print(repr({e.path.as_posix(): e.data for e in iter_render(tpl, ctx, r)}))\n"
        "print('compiled', [n for n in compiled if n])\n"
    )
    argv = [sys.executable, "-c", code]
    if os.geteuid() == 0:  # root ignores permission bits: drop the capability that allows it
        import shutil

        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *argv]
    for folder in folders:
        folder.chmod(0o500)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    finally:
        for folder in folders:
            folder.chmod(0o700)
    assert proc.returncode == 0, proc.stderr
    assert "'README.md': b'# n edited\\n'" in proc.stdout
    assert "'p/__init__.py': b'NAME = \"p\"\\n'" in proc.stdout
    # Only the edited file was compiled: the other one came from the read-only cache.
    assert "compiled ['README.md.jinja']" in proc.stdout
    assert {p: p.read_bytes() for p in cache_files()} == before


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_cache_folder_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    """Its code would be executed: a planted cache file must not be loaded."""
    folder = Path(os.environ["WEBKIT_CACHE_DIR"]) / (
        f"jinja-{jinja2.__version__}-{sys.implementation.cache_tag}-sandbox1"
    )
    folder.mkdir(parents=True)
    root = make_template(tmp_path / "t", files=FILES)
    folder.chmod(0o777)  # after mkdir: the umask would drop the write bits
    assert render(root)["README.md"] == b"# my-site\n"
    assert cache_files() == []
    # The same folder, private again: now it is used.
    folder.chmod(0o700)
    render(root)
    assert len(cache_files()) == 2


def test_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBKIT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(os.environ) == tmp_path / "mine"
    monkeypatch.delenv("WEBKIT_CACHE_DIR")
    assert cache_root(os.environ) == tmp_path / "xdg" / "webkit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # invalid per the XDG spec
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root(os.environ) == tmp_path / "home" / ".cache" / "webkit"


def test_jinja_is_not_imported_for_a_template_without_jinja(tmp_path: Path) -> None:
    # No .jinja file, no variable in a path, no question with a templated default.
    toml = '[template]\nname = "copy"\nversion = "1"\ndescription = "copies"\n'
    files = {"src/app.py": "print('{{ as is }}')\n"}
    root = make_template(tmp_path / "t", files=files, toml=toml)
    code = (
        "import sys, pathlib\n"
        "from webkit_cli.scaffold import create_project\n"
        f"create_project(template={str(root)!r}, target=pathlib.Path({str(tmp_path / 'p')!r}),"
        " author='a')\n"
        "print('jinja2' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "p" / "src" / "app.py").read_text() == "print('{{ as is }}')\n"
