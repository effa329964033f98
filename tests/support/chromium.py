"""A real headless Chromium for the dashboard tests: find it, load a page, read the DOM it built.

    page = chromium.parse(chromium.dump_dom(url))   # the DOM after the page's scripts ran
    page.cells[("us-east", "local")]                # "open" (the cell's data-state)

`require_chromium()` skips the test, saying why, only when no browser binary exists at all
(`.ci/run` installs the Debian package `chromium` when it is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

#: Names the browser goes by; `$CHROMIUM` (a path or a name) is tried first.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def find_chromium() -> str | None:
    names = [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else []
    for name in (*names, *CANDIDATES):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium binary found (tried $CHROMIUM, " + ", ".join(CANDIDATES) + "); "
            "install the Debian package `chromium` (.ci/run does) to run the dashboard test"
        )
    return path


def run(url: str, *extra: str, budget_ms: int = 5000, timeout_s: float = 60.0) -> str:
    """Run headless Chromium on `url` with its own throwaway profile; its stdout."""
    binary = require_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        result = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", *extra, url],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def dump_dom(url: str, *, budget_ms: int = 5000) -> str:
    dom = run(url, "--dump-dom", budget_ms=budget_ms)
    assert "<html" in dom, "Chromium printed no DOM"
    return dom


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip


class Page(HTMLParser):
    """The dashboard as rendered: the matrix (`tr[data-upstream] > td[data-region]` with its
    `data-state`, text and `home` mark) and the text and class of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.cell_text: dict[tuple[str, str], str] = {}
        self.by_id: dict[str, str] = {}
        self.classes: dict[str, str] = {}
        self.homes: set[tuple[str, str]] = set()  # cells holding a `data-home` mark
        self._row: str | None = None
        self._cell: tuple[str, str] | None = None
        self._open_ids: list[tuple[str, int]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-upstream" in a:
            self._row = a["data-upstream"]
        if tag == "td" and self._row is not None and "data-region" in a:
            self._cell = (self._row, a["data-region"])
            self.cells[self._cell] = a.get("data-state", "")
            self.cell_text[self._cell] = ""
        if "data-home" in a and self._cell is not None:
            self.homes.add(self._cell)
        if "id" in a:
            self.by_id[a["id"]] = ""
            self.classes[a["id"]] = a.get("class", "")
        if tag in _VOID:
            return
        self._depth += 1
        if "id" in a:
            self._open_ids.append((a["id"], self._depth))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self._open_ids and self._open_ids[-1][1] == self._depth:
            self._open_ids.pop()
        self._depth -= 1
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self.cell_text[self._cell] += data + " "
        for element_id, _ in self._open_ids:
            self.by_id[element_id] += data


def parse(dom: str) -> Page:
    parser = Page()
    parser.feed(dom)
    parser.close()
    return parser
