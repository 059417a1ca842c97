"""Where the versions of a template come from, so an old version can be rendered again.

* Built-in templates: every released version is a zip in ``project_templates/_releases/``
  (``site-1.0.0.zip``), holding the template's folder and any base it extends, as they were
  at that release. ``scripts/release-templates`` writes the archive of each new version;
  a test keeps every current template equal to its archive, so a change of output without
  a new version cannot slip in.
* A user's template folder inside a git repository: its versions are the repository's
  tags (``v1.2.0`` or ``1.2.0``), as copier does; the folder's path inside the repository
  is kept.
* A folder outside git has only its current content: there is no older version to
  compare against, which the update says.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from webkit_cli.errors import TemplateError, UpdateError
from webkit_cli.scaffold.template import Template, builtin_templates_dir, load_template

RELEASES_DIR = "_releases"
_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)([.-]?[A-Za-z0-9.+-]*)$")
#: Every archive entry gets this timestamp, so an archive is the same bytes on every machine.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """Sort key for ``1.10.0`` > ``1.9.2`` > ``1.9.2rc1`` (a suffix sorts before the release)."""
    m = _VERSION.match(version)
    if m is None:
        return ((), 0, version)
    numbers = tuple(int(p) for p in m.group(1).split("."))
    numbers = numbers + (0,) * (3 - len(numbers)) if len(numbers) < 3 else numbers
    suffix = m.group(2)
    return (numbers, 0 if suffix else 1, suffix)


def is_version(text: str) -> bool:
    return _VERSION.match(text) is not None


class TemplateSource:
    """The versions of one template, and a way to lay any of them out as a folder."""

    #: What ``webkit update`` says about where versions come from.
    description = ""
    #: False for a folder outside git: only the current content exists.
    has_history = True

    def versions(self) -> list[str]:
        raise NotImplementedError

    def latest(self) -> str:
        versions = self.versions()
        if not versions:
            raise UpdateError(f"{self.description} has no versions.")
        return max(versions, key=version_key)

    @contextmanager
    def checkout(self, version: str) -> Iterator[Template]:
        """The template as it was at ``version``, in a folder that lives for the block."""
        raise NotImplementedError
        yield  # pragma: no cover


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise TemplateError(f"Template archive member {name!r} escapes its folder.")
    return path


def _extract_zip(data: bytes | Path, into: Path) -> None:
    with zipfile.ZipFile(data if isinstance(data, Path) else io.BytesIO(data)) as archive:
        for info in archive.infolist():
            rel = _safe_member(info.filename)
            dest = into.joinpath(*rel.parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(archive.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                dest.chmod(mode)


def _template_folders(root: Path) -> list[Path]:
    """``root`` and every base it extends (``extends = "NAME"`` in template.toml)."""
    import tomllib

    folders = [root]
    seen = {root.name}
    current = root
    while True:
        try:
            data = tomllib.loads((current / "template.toml").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return folders
        base = data.get("template", {}).get("extends")
        if not isinstance(base, str) or not base or base in seen:
            return folders
        seen.add(base)
        current = root.parent / base
        if not current.is_dir():
            return folders
        folders.append(current)


def archive_template(root: Path) -> bytes:
    """A deterministic zip of a template folder and its bases (paths relative to their parent)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for folder in _template_folders(root):
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                rel = path.relative_to(root.parent)
                if "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
                    continue
                info = zipfile.ZipInfo(rel.as_posix(), date_time=_ZIP_EPOCH)
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


def releases_dir() -> Path | None:
    base = builtin_templates_dir()
    return None if base is None else base / RELEASES_DIR


def archive_path(name: str, version: str) -> Path | None:
    folder = releases_dir()
    return None if folder is None else folder / f"{name}-{version}.zip"


class BuiltinSource(TemplateSource):
    """A built-in template: its released versions are archives shipped with webkit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = f"the built-in template {name!r}"

    def _live(self) -> Template | None:
        base = builtin_templates_dir()
        if base is None or not (base / self.name / "template.toml").is_file():
            return None
        return load_template(base / self.name)

    def versions(self) -> list[str]:
        found: set[str] = set()
        folder = releases_dir()
        if folder is not None and folder.is_dir():
            prefix = f"{self.name}-"
            for path in folder.glob(f"{self.name}-*.zip"):
                version = path.stem[len(prefix) :]
                if is_version(version):
                    found.add(version)
        live = self._live()
        if live is not None:
            found.add(live.version)
        return sorted(found, key=version_key)

    @contextmanager
    def checkout(self, version: str) -> Iterator[Template]:
        live = self._live()
        if live is not None and live.version == version:
            yield live
            return
        path = archive_path(self.name, version)
        if path is None or not path.is_file():
            raise UpdateError(
                f"The built-in template {self.name!r} has no version {version}: "
                f"known versions are {', '.join(self.versions()) or 'none'}."
            )
        with _tempdir() as tmp:
            _extract_zip(path, tmp)
            yield load_template(tmp / self.name)


@contextmanager
def _tempdir() -> Iterator[Path]:
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="webkit-update-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise UpdateError("webkit update needs git for this template: install git.")
    return subprocess.run([git, *args], cwd=cwd, capture_output=True, check=False, timeout=120)


class GitSource(TemplateSource):
    """A template folder inside a git repository (a local path, or a URL cloned once)."""

    def __init__(self, repo: str, subdir: str = "", *, label: str | None = None) -> None:
        self.repo = repo
        self.subdir = subdir.strip("/")
        self.description = label or f"the template at {repo}"
        self._git_dir: Path | None = None
        self._tmp: Path | None = None

    def _dir(self) -> Path:
        if self._git_dir is not None:
            return self._git_dir
        local = Path(self.repo)
        if local.is_dir():
            out = _git("rev-parse", "--absolute-git-dir", cwd=local)
            if out.returncode != 0:
                raise UpdateError(f"{self.repo} is not in a git repository.")
            self._git_dir = Path(out.stdout.decode().strip())
            return self._git_dir
        import tempfile

        self._tmp = Path(tempfile.mkdtemp(prefix="webkit-template-"))
        out = _git("clone", "--quiet", "--bare", self.repo, str(self._tmp / "repo.git"))
        if out.returncode != 0:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            detail = out.stderr.decode(errors="replace").strip().splitlines()
            raise UpdateError(
                f"Cannot clone the template {self.repo}: {detail[-1] if detail else 'git failed'}."
            )
        self._git_dir = self._tmp / "repo.git"
        return self._git_dir

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _tags(self) -> dict[str, str]:
        out = _git("--git-dir", str(self._dir()), "tag", "--list")
        tags: dict[str, str] = {}
        for tag in out.stdout.decode(errors="replace").split():
            if is_version(tag):
                tags.setdefault(tag[1:] if tag.startswith("v") else tag, tag)
        return tags

    def versions(self) -> list[str]:
        return sorted(self._tags(), key=version_key)

    @contextmanager
    def checkout(self, version: str) -> Iterator[Template]:
        tag = self._tags().get(version)
        if tag is None:
            raise UpdateError(
                f"{self.description} has no tag for version {version}: tags are "
                f"{', '.join(self.versions()) or 'none'} (tag releases as v{version})."
            )
        # Archive the whole tree: a template may extend a sibling folder.
        out = _git("--git-dir", str(self._dir()), "archive", "--format=tar", tag)
        if out.returncode != 0:
            raise UpdateError(f"git archive {tag} failed: {out.stderr.decode().strip()}.")
        with _tempdir() as tmp:
            with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
                members = []
                for member in tar.getmembers():
                    _safe_member(member.name)
                    if member.isfile() or member.isdir():
                        members.append(member)
                tar.extractall(tmp, members=members)  # noqa: S202 - members checked above
            yield load_template(tmp / self.subdir if self.subdir else tmp)


class FolderSource(TemplateSource):
    """A template folder outside git: only what it holds now."""

    has_history = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"the template folder {root} (not in git)"

    def versions(self) -> list[str]:
        return [load_template(self.root).version]

    @contextmanager
    def checkout(self, version: str) -> Iterator[Template]:
        current = load_template(self.root)
        if current.version != version:
            raise UpdateError(
                f"{self.description} holds version {current.version} only, not {version}: "
                "keep the template in git with a tag per version to update across versions."
            )
        yield current


def source_for(name: str, recorded_source: str | None) -> TemplateSource:
    """The source of the template a project recorded in ``[tool.webkit.template]``."""
    if recorded_source is None:
        base = builtin_templates_dir()
        if base is None or not (base / name / "template.toml").is_file():
            raise UpdateError(
                f"The project was made from a template {name!r} that this webkit does not ship, "
                "and no source is recorded: pass --template PATH_OR_GIT_URL."
            )
        return BuiltinSource(name)
    return source_from_spec(recorded_source)


def source_from_spec(spec: str) -> TemplateSource:
    """``PATH`` (a folder, in git or not) or a git URL (``https://…``, ``git@…``, ``file://…``)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        out = _git("rev-parse", "--show-toplevel", cwd=path) if shutil.which("git") else None
        if out is not None and out.returncode == 0:
            top = Path(out.stdout.decode().strip())
            return GitSource(
                str(top),
                path.resolve().relative_to(top.resolve()).as_posix(),
                label=f"the template at {spec}",
            )
        return FolderSource(path.resolve())
    if "://" in spec or spec.startswith("git@"):
        url, _, subdir = spec.partition("#")
        return GitSource(url, subdir, label=f"the template at {url}")
    raise UpdateError(f"Template source {spec!r} is neither a folder nor a git URL.")


def release_builtin_templates(templates_dir: Path, into: Path) -> list[str]:
    """Write ``NAME-VERSION.zip`` for each template of ``templates_dir`` not yet archived.

    An existing archive with other content is an error: a released version never changes.
    """
    written = []
    into.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in templates_dir.iterdir() if (p / "template.toml").is_file()):
        template = load_template(folder)
        if folder.name.startswith("_"):
            continue  # a base: archived with every template that extends it
        archive = into / f"{folder.name}-{template.version}.zip"
        data = archive_template(folder)
        if archive.exists():
            if archive.read_bytes() != data:
                raise UpdateError(
                    f"{folder.name} {template.version} was released with other content: "
                    f"bump the version in {folder / 'template.toml'}."
                )
            continue
        archive.write_bytes(data)
        written.append(archive.name)
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=release_builtin_templates.__doc__)
    parser.add_argument("--from", dest="source", type=Path, default=None)
    args = parser.parse_args(argv)
    source = args.source or builtin_templates_dir()
    if source is None:
        print("Error: no project_templates folder found.")
        return 1
    target = builtin_templates_dir()
    assert target is not None
    try:
        written = release_builtin_templates(source, target / RELEASES_DIR)
    except UpdateError as exc:
        print(f"Error: {exc.message}")
        return 1
    print("\n".join(f"wrote {name}" for name in written) or "every version is archived")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
