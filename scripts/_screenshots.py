"""Screenshots of the generated projects in Chromium, for looking at (not a test).

Generates a ``site``, an ``ajax`` and an ``api`` project with ``webkit new`` in a temporary
folder, applies their migrations, serves each with ``webkit run --port 0`` in development
(the ``site`` gets a ``/boom`` view that raises, for the dev error page) and saves one PNG per
page and width to FOLDER: ``<template>-<page>-desktop.png`` (the 1280x800 window) and
``<template>-<page>-phone.png`` (390 px wide, the whole page). A page that logs a console error or a
Content-Security-Policy violation is reported (allowed: the 4xx/5xx a page is shot for).

    scripts/screenshots [FOLDER] [--only TEMPLATE ...]
    scripts/screenshots --readme    # docs/site.png and docs/error-page.png, for README.md
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Launched as the tests launch it: tests/chromium.sh, the same switches (no hidden omnibox
# renderer per page).
from tests._chromium import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_LAUNCHER  # noqa: E402

DEFAULT_FOLDER = (
    Path("/work/coord/screens")
    if Path("/work/coord").is_dir()
    else Path(tempfile.gettempdir()) / "webkit-screens"
)
URL = re.compile(r"http://127\.0\.0\.1:(\d+)")
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
#: README.md's two pictures, in 256 colours so that each PNG stays well under 150 kB.
README_SHOTS = {"home-welcome": "site.png", "dev-error-page": "error-page.png"}
README_SIZE = (1024, 760)
ADMIN = ("ada@example.com", "correct horse battery staple")

BOOM_VIEW = '''

@bp.get("/boom")
def boom() -> str:
    """Raises on purpose: the screenshot of webkit run's error page."""
    order = {"id": 7, "items": []}
    return str(sum(item["price"] for item in order["items"]) / len(order["items"]))
'''


@dataclass(frozen=True)
class Shot:
    name: str
    path: str
    status: int = 200
    login: bool = False  # as the admin user
    accept_json: bool = False
    focus_skip_link: bool = False
    dark: bool = False  # prefers-color-scheme: dark


SHOTS: dict[str, list[Shot]] = {
    "site": [
        Shot("home-welcome", "/"),
        Shot("home-skip-link-focused", "/", focus_skip_link=True),
        Shot("home-dark", "/", dark=True),
        Shot("about", "/about"),
        Shot("contact", "/contact"),
        Shot("login", "/auth/login"),
        Shot("register", "/auth/register"),
        Shot("reset", "/auth/reset"),
        Shot("messages-admin", "/messages", login=True),
        Shot("404", "/no/such/page", status=404),
        Shot("dev-error-page", "/boom", status=500),
    ],
    "ajax": [
        Shot("home-welcome", "/"),
        Shot("home-logged-in", "/", login=True),
        Shot("login", "/auth/login"),
        Shot("404", "/no/such/page", status=404),
    ],
    "api": [
        Shot("index", "/"),
        Shot("docs", "/docs"),
        Shot("docs-dark", "/docs", dark=True),
        Shot("openapi-json", "/openapi.json"),
        Shot("healthz", "/healthz"),
        Shot("401", "/notes", status=401),
        Shot("404", "/no/such/page", status=404),
    ],
}


def child_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WEBKIT_", "FLASK_"))
        and key not in {"APP_ENV", "SECRET_KEY", "DATABASE_URL", "INSTANCE_PATH", "PORT"}
    }
    env.update(NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def generate(template: str, parent: Path) -> Path:
    name = f"my-{template}"
    command = [sys.executable, "-m", "webkit_cli", "new", name, "--template", template]
    command += ["--dir", str(parent), "--no-input", "--no-install", "--no-git"]
    subprocess.run(command, check=True, capture_output=True, env=child_env())
    return parent / name


def flask(project: Path, env: dict[str, str], *args: str, stdin: str = "") -> None:
    package = project.name.replace("-", "_")
    command = [sys.executable, "-m", "flask", "--app", package, *args]
    settings = {**env, "PYTHONPATH": str(project / "src")}
    result = subprocess.run(
        command, cwd=project, env=settings, input=stdin, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"Error: flask {' '.join(args)} failed in {project}:\n{result.stderr}")


@contextmanager
def served(project: Path, env: dict[str, str]) -> Iterator[str]:
    """``webkit run`` on a free port in its own process group; yields its URL."""
    command = [sys.executable, "-m", "webkit_cli", "run", "--port", "0", "--no-reload"]
    process = subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if match := URL.search(line):
                break
        else:
            raise SystemExit(f"Error: webkit run ended before serving {project}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def log_in(page: Any, url: str) -> None:
    page.goto(url + "/auth/login")
    page.fill("input[name=email]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.locator("form button[type=submit], form input[type=submit]").last.click()
    page.wait_for_load_state("networkidle")


def shoot(
    browser: Any, url: str, template: str, shot: Shot, folder: Path, *, readme: bool = False
) -> list[str]:
    """Saves the shot at every size; returns the problems the page reported."""
    problems: list[str] = []
    sizes = {"readme": README_SIZE} if readme else SIZES
    for size, (width, height) in sizes.items():
        context = browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme="dark" if shot.dark else "light",
        )
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        if shot.login:
            log_in(page, url)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e =>"
            " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
        )
        response = page.goto(url + shot.path)
        page.wait_for_load_state("networkidle")
        if response is None or response.status != shot.status:
            got = response.status if response else "no response"
            problems.append(f"{shot.path}: status {got}, expected {shot.status}")
        if shot.focus_skip_link:
            page.keyboard.press("Tab")
        out = folder / f"{template}-{shot.name}-{size}.png"
        if readme:
            out = folder / README_SHOTS[shot.name]
            page.screenshot(path=str(out))
            _quantize(out)
            context.close()
            continue
        # Desktop: what the window shows first; phone: the whole page, to look at every part.
        page.screenshot(path=str(out), full_page=size == "phone" and not shot.focus_skip_link)
        context.close()
    allowed = f"status of {shot.status}"
    return sorted({p for p in problems if shot.status == 200 or allowed not in p})


def _quantize(path: Path) -> None:
    """256 colours, for a small PNG in the repository (needs Pillow: pip install pillow)."""
    try:
        from PIL import Image
    except ImportError:
        print(f"  {path.name}: not made smaller, Pillow is not installed (pip install pillow)")
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--only", nargs="*", choices=sorted(SHOTS), default=sorted(SHOTS))
    parser.add_argument("--readme", action="store_true", help="write README.md's pictures")
    args = parser.parse_args(argv)
    folder: Path = args.folder.resolve()
    if args.readme:
        folder, args.only = ROOT / "docs", ["site"]
    elif folder.is_relative_to(ROOT):
        raise SystemExit("Error: give a FOLDER outside the repository (README's: --readme)")
    folder.mkdir(parents=True, exist_ok=True)
    if not CHROMIUM.exists():
        raise SystemExit(f"Error: {CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    failures = 0
    with tempfile.TemporaryDirectory(prefix="webkit-screens-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM_LAUNCHER), args=CHROMIUM_ARGS)
        for template in args.only:
            project = generate(template, Path(tmp))
            env = child_env(
                APP_ENV="development",
                SECRET_KEY=secrets.token_hex(32),
                INSTANCE_PATH=str(Path(tmp) / f"{template}-instance"),
            )
            if template == "site":
                views = project / "src" / "my_site" / "views.py"
                views.write_text(views.read_text(encoding="utf-8") + BOOM_VIEW, encoding="utf-8")
            flask(project, env, "db", "upgrade")
            if template != "api":
                flask(
                    project,
                    env,
                    "users",
                    "create",
                    ADMIN[0],
                    "--admin",
                    "--password-stdin",
                    stdin=ADMIN[1] + "\n",
                )
            with served(project, env) as url:
                for shot in SHOTS[template]:
                    if args.readme and shot.name not in README_SHOTS:
                        continue
                    problems = shoot(browser, url, template, shot, folder, readme=args.readme)
                    mark = "!" if problems else " "
                    print(f"{mark} {template}-{shot.name}: {shot.path}", flush=True)
                    for problem in problems:
                        print(f"    {problem}")
                    failures += bool(problems)
        browser.close()
    print(f"Saved in {folder}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
