"""Open a report page in headless Chromium (Debian's, driven by Playwright) and read back
what a reader would see: images, audio, the results table, console errors."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Flags for a root user on a closed network: no sandbox, and no background connections
# (each refused connection would otherwise show up as noise).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip

AUDIO_METADATA = """async () => Promise.all([...document.querySelectorAll('audio')].map(audio =>
  new Promise(resolve => {
    const done = duration => resolve({src: audio.getAttribute('src'), duration});
    audio.addEventListener('loadedmetadata', () => done(audio.duration), {once: true});
    audio.addEventListener('error', () => done(-1), {once: true});
    audio.preload = 'metadata';
    audio.load();
  })))"""


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise AssertionError("Debian's chromium is missing: run `make install` (it installs it as root)")
    return path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that got a media file's metadata hangs up on the rest: not an error."""


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """The folder over HTTP on a free loopback port, as a reader's browser would get it."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _failed(request: Any, errors: list[str]) -> None:
    # Chromium aborts a media request itself once it has what it needs (net::ERR_ABORTED).
    if request.resource_type == "media" and "ERR_ABORTED" in (request.failure or ""):
        return
    errors.append(f"request failed: {request.url} ({request.failure})")


def inspect_page(page_path: Path, screenshot: Path) -> dict[str, Any]:
    """Load the page; return its images, audio durations, table rows and every error seen."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with served(page_path.parent) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: _failed(r, errors))
            page.on(
                "response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            )
            page.goto(f"{base}/{page_path.name}", wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({src: e.getAttribute('src'), width: e.naturalWidth}))"
            )
            audio = page.evaluate(AUDIO_METADATA)
            rows = page.eval_on_selector_all(
                "#results-table tbody tr", "rows => rows.map(r => [r.dataset.model, r.dataset.metric])"
            )
            tables = page.eval_on_selector_all(
                "table[id]",
                "ts => Object.fromEntries(ts.map(t => [t.id, [...t.querySelectorAll('tbody tr[data-model]')]"
                ".map(r => r.dataset.model)]))",
            )
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
            anchors = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {
        "images": images,
        "audio": audio,
        "rows": rows,
        "tables": tables,
        "links": links,
        "anchors": anchors,
        "errors": errors,
    }
