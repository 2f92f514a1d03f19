"""Headless Chromium (the system's ``/usr/bin/chromium``, driven by Playwright) for the
explorer's tests, benchmark and screenshot; nothing is downloaded.

Every request that is not a ``file:`` URL is aborted and recorded, so a page that tried to
reach the network is caught; console errors and uncaught exceptions are recorded too::

    with Browser() as browser:
        page, log = browser.open("graph.html")   # waits for the first drawing
        assert not log.errors and not log.blocked
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Browser", "PageLog"]

#: the browser binary (Debian's ``chromium``); ``KGRAPH_CHROMIUM`` overrides it
CHROMIUM: Final = os.environ.get("KGRAPH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass
class PageLog:
    """What a page did that it should not: console errors, uncaught errors, requests."""

    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class Browser:
    """A headless Chromium with a fresh profile, closed (and its profile removed) on exit."""

    def __init__(self, *, width: int = 1600, height: int = 1000) -> None:
        self.viewport = {"width": width, "height": height}
        self._pw: Any = None
        self._context: Any = None
        self._profile: str | None = None

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium package")
        self._profile = tempfile.mkdtemp(prefix="kgraph-chromium-")
        try:
            self._pw = sync_playwright().start()
            self._context = self._pw.chromium.launch_persistent_context(
                self._profile,
                executable_path=CHROMIUM,
                headless=True,
                args=list(CHROMIUM_ARGS),
                viewport=self.viewport,
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._context is not None:
                self._context.close()
        finally:
            self._context = None
            if self._pw is not None:
                self._pw.stop()
                self._pw = None
            if self._profile is not None:
                shutil.rmtree(self._profile, ignore_errors=True)
                self._profile = None

    def open(
        self, path: str | os.PathLike[str], *, timeout_s: float = 60.0, wait: bool = True
    ) -> tuple[Any, PageLog]:
        """A new tab showing the local file ``path``; with ``wait``, returns once the page
        set ``data-ready`` (after vis-network's first drawing)."""
        if self._context is None:
            raise RuntimeError("the browser is not running (use it in a with block)")
        log = PageLog()
        page = self._context.new_page()

        def route(r: Any) -> None:
            if r.request.url.startswith("file:"):
                r.continue_()
            else:
                log.blocked.append(r.request.url)
                r.abort()

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                log.errors.append(msg.text)

        def on_dialog(dialog: Any) -> None:
            log.dialogs.append(dialog.message)
            dialog.dismiss()

        page.route("**/*", route)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: log.errors.append(f"uncaught: {exc}"))
        page.on("dialog", on_dialog)
        page.goto(Path(path).resolve().as_uri(), timeout=timeout_s * 1000)
        if wait:
            page.wait_for_selector("body[data-ready]", state="attached", timeout=timeout_s * 1000)
        return page, log
