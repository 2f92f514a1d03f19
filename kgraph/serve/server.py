"""The HTTP server: a threading WSGI server around :class:`kgraph.serve.app.App`.

``make_server`` opens the bundle's store (building it if needed), starts the query workers and
binds the socket; ``serve_forever`` answers until Ctrl-C (or ``shutdown()`` from another
thread); ``close`` stops the workers. Use it as a context manager::

    with make_server("graphs/seeds", port=0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(server.url)
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .app import App, AppConfig
from .worker import WorkerPool

__all__ = ["KgraphServer", "is_loopback", "make_server"]


class _Handler(WSGIRequestHandler):
    """Keeps the raw request target (IRIs are percent-encoded) and logs only when asked."""

    server: KgraphServer

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ["REQUEST_URI"] = self.path
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")


class KgraphServer(ThreadingMixIn, WSGIServer):
    """The endpoint's server: one thread per connection, query work in the worker pool."""

    daemon_threads = True
    allow_reuse_address = True
    pool: WorkerPool | None = None
    log: Callable[[str], None] | None = None

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:8000/``."""
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def close(self) -> None:
        """Close the socket and stop the query workers."""
        self.server_close()
        if self.pool is not None:
            self.pool.close()

    def __enter__(self) -> KgraphServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server6(KgraphServer):
    address_family = socket.AF_INET6


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is the loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return all(ipaddress.ip_address(str(i[4][0])).is_loopback for i in infos)


def make_server(
    store: str | os.PathLike[str],
    base: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    timeout: float = 10.0,
    max_rows: int = 10_000,
    workers: int = 2,
    explorer: Callable[[], bytes] | None = None,
    log: Callable[[str], None] | None = None,
) -> KgraphServer:
    """A bound, not yet serving, server over the Oxigraph store folder ``store``.

    ``base`` is the base of the data IRIs in the store; ``port=0`` picks a free port.
    :class:`kgraph.serve.worker.WorkerError` if the store cannot be opened, ``OSError`` if the
    address is taken.
    """
    pool = WorkerPool(Path(store), base, size=workers, timeout=timeout)
    try:
        config = AppConfig(
            base=base, max_rows=max_rows, explorer=explorer, loopback_only=is_loopback(host)
        )
        cls = _Server6 if ":" in host else KgraphServer
        server = cls((host, port), _Handler)
    except BaseException:
        pool.close()
        raise
    server.set_app(App(config, pool))
    server.pool = pool
    server.log = log
    return server


def _stderr_log(message: str) -> None:
    print(f"kgraph: {message}", file=sys.stderr)
