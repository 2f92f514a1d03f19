"""Serving a graph bundle: its store, its explorer, the server, until Ctrl-C."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import KgraphServer

__all__ = ["ServeError", "open_bundle_server", "serve_bundle"]


class ServeError(Exception):
    """The bundle cannot be served (one-line message): unsound bundle, store, address in use."""


def _explorer(bundle: Path) -> Callable[[], bytes]:
    """The bundle's ``graph.html`` if it has one, else the explorer rendered from its graph."""

    def load() -> bytes:
        page = bundle / "graph.html"
        if page.is_file():
            return page.read_bytes()
        import importlib

        from ..bundle import load_graph
        from .pages import query_form

        try:
            render = getattr(importlib.import_module("kgraph.view"), "render_html", None)
        except ImportError:
            render = None
        if render is None:  # the explorer is not installed: the query form instead
            return query_form()
        _, graph = load_graph(bundle)
        try:
            return str(render(graph, title=f"kgraph: {bundle.name}")).encode("utf-8")
        except Exception as exc:  # a broken explorer must not take the endpoint down
            print(f"kgraph: warning: cannot render the explorer ({exc})", file=sys.stderr)
            return query_form()

    return load


def open_bundle_server(
    bundle: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    base: str | None = None,
    timeout: float = 10.0,
    max_rows: int = 10_000,
    workers: int = 2,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> KgraphServer:
    """A server over the bundle in ``bundle``, bound and ready for ``serve_forever()``.

    The bundle's store (``DIR/store/``) is built first if missing or stale (``on_step`` told
    its steps: :func:`kgraph.rdf.store.ensure_store`). With ``base``
    other than the store's, a private store with that base is built in a temporary folder
    (removed when the server closes): data IRIs can then point at the server itself,
    e.g. ``http://127.0.0.1:8000/id/``. :class:`ServeError` with a one-line message on failure.
    """
    from ..bundle import BundleError
    from ..rdf.namespaces import InvalidBase, normalise_base
    from ..rdf.store import StoreError, ensure_store, store_info, write_bundle_store
    from .server import make_server
    from .worker import WorkerError

    folder = Path(bundle)
    private: Path | None = None
    try:
        wanted = normalise_base(base) if base is not None else None
        store = ensure_store(folder, on_step=on_step)
        info = store_info(folder) or {}
        store_base = str(info.get("base") or "")
        if wanted is not None and wanted != store_base:
            private = Path(tempfile.mkdtemp(prefix="kgraph-serve-"))
            sha256 = str(info.get("graph_sha256") or "")
            write_bundle_store(folder, private, wanted, sha256, on_step=on_step)
            store, store_base = private / "store", wanted
    except (BundleError, StoreError, InvalidBase) as exc:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        raise ServeError(str(exc)) from None
    try:
        server = make_server(
            store,
            store_base,
            host=host,
            port=port,
            timeout=timeout,
            max_rows=max_rows,
            workers=workers,
            explorer=_explorer(folder),
            log=log,
        )
    except (WorkerError, OSError) as exc:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ServeError(f"cannot serve on {host}:{port}: {reason}") from None
    if private is not None:
        close = server.close

        def close_and_clean() -> None:
            close()
            shutil.rmtree(private, ignore_errors=True)

        server.close = close_and_clean  # type: ignore[method-assign]
    return server


def serve_bundle(
    bundle: str | os.PathLike[str],
    *,
    on_ready: Callable[[KgraphServer], None] | None = None,
    **options: object,
) -> None:
    """Serve ``bundle`` until Ctrl-C (then stop the workers and return)."""
    server = open_bundle_server(bundle, **options)  # type: ignore[arg-type]
    try:
        if on_ready is not None:
            on_ready(server)
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        sys.stderr.flush()
