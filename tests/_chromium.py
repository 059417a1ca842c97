"""How the tests (and ``scripts/screenshots``) start Chromium: standard library only."""

from __future__ import annotations

from pathlib import Path

#: Debian's Chromium, driven by Playwright (its own browser download cannot work here).
CHROMIUM = Path("/usr/bin/chromium")
#: What Playwright starts: CHROMIUM with the --disable-features switches merged into one,
#: Playwright's own and :data:`CHROMIUM_ARGS`'s (Chromium heeds only the last one).
CHROMIUM_LAUNCHER = Path(__file__).with_name("chromium.sh")
#: Without the background-networking switches Chromium keeps trying to reach Google's
#: hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every window of a headless Chromium still has an omnibox, whose popup is a web page
    # of its own: a renderer for each test page, 0.3 s of CPU when the page opens and
    # 0.08 s (with the browser's share) each second it stays open, about half of what
    # the tests' Chromium spent. The native popup that replaces it needs no renderer.
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup",
]
