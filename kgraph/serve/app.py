"""The endpoint as a WSGI application (testable without sockets).

Routes::

    GET  /                      the HTML explorer of the bundle
    GET  /sparql                the query form; with ?query=... a SPARQL 1.1 Protocol query
    POST /sparql                a query as a form (query=...) or as application/sparql-query
    GET  /id/REST               a Linked Data IRI ({base}REST, also under the base's own path):
                                303 to its page or its data document, by Accept
    GET  /page/REST             the HTML page of {base}REST
    GET  /data/REST[.ttl|.jsonld|.nt]  its description as Turtle, JSON-LD, N-Triples

Read-only: an ``update`` parameter, an ``application/sparql-update`` body or a query that parses
as an update is refused with 400. The SPARQL work happens in worker processes
(:class:`kgraph.serve.worker.WorkerPool`), bounded in time and result size; this module only
routes, negotiates and turns worker replies into HTTP answers. Every answer carries
``X-Content-Type-Options: nosniff`` and a Content-Security-Policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import pages
from .engine import READ_ONLY_MESSAGE, Reply, error
from .negotiate import GRAPH, choose
from .worker import PoolBusy, QueryTimeout, WorkerError

__all__ = ["App", "AppConfig", "Pool"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_STATUS: Final = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

#: the policy of every page but the explorer: no scripts, no outside resources
STRICT_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: the explorer is one self-contained page with inline scripts and styles, nothing from outside
EXPLORER_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

#: characters left as they are when an IRI path is re-encoded (RFC 3987 ipath)
_IRI_SAFE: Final = "/:@!$&'()*+,;=-._~"


class Pool(Protocol):
    """What the app needs of the worker pool (a fake runs the engine in-process in tests)."""

    timeout: float

    def call(self, request: Mapping[str, Any], timeout: float | None = None) -> Reply: ...


@dataclass
class AppConfig:
    """Settings of the endpoint."""

    base: str  #: the base of the data IRIs in the store
    max_rows: int = 10_000  #: rows (SELECT) or triples (CONSTRUCT) a query may return
    max_body: int = 1 << 20  #: the largest POST body read (bytes)
    explorer: Callable[[], bytes] | None = None  #: the HTML explorer served at /
    loopback_only: bool = True  #: refuse Host headers that are not loopback names
    ld_prefixes: tuple[str, ...] = field(default=())  #: local paths of Linked Data IRIs

    def __post_init__(self) -> None:
        if not self.ld_prefixes:
            own = urlsplit(self.base).path or "/"
            prefixes = ["/id/"]
            if own not in prefixes and own != "/":
                prefixes.append(own)
            self.ld_prefixes = tuple(prefixes)


class App:
    """The WSGI application: ``App(config, pool)``."""

    def __init__(self, config: AppConfig, pool: Pool) -> None:
        self.config = config
        self.pool = pool
        self._explorer: bytes | None = None

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        try:
            reply, csp = self.route(method, environ)
        except Exception as exc:  # a bug must not leak a traceback to the client
            reply, csp = error(500, f"internal error: {type(exc).__name__}"), STRICT_CSP
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", csp),
            ("Referrer-Policy", "no-referrer"),
            *reply.headers,
        ]
        start_response(f"{reply.status} {_STATUS.get(reply.status, 'Error')}", headers)
        return [b""] if method == "HEAD" else [reply.body]

    def route(self, method: str, environ: Mapping[str, Any]) -> tuple[Reply, str]:
        """The reply to one request and the Content-Security-Policy to send with it."""
        if method not in ("GET", "HEAD", "POST"):
            return _with(
                error(405, f"method {method} not allowed"), ("Allow", "GET, HEAD, POST")
            ), STRICT_CSP
        if self.config.loopback_only and not _loopback_host(environ.get("HTTP_HOST", "")):
            return error(
                400, "unexpected Host header (the server answers loopback names only)"
            ), STRICT_CSP
        raw = environ.get("REQUEST_URI") or quote(
            environ.get("PATH_INFO", "/"), safe=_IRI_SAFE + "%"
        )
        path = urlsplit(raw).path or "/"
        query_string = environ.get("QUERY_STRING", "")
        if path == "/sparql":
            return self.sparql(method, environ, query_string), STRICT_CSP
        if method == "POST":
            return _with(
                error(405, "POST is accepted at /sparql only"), ("Allow", "GET, HEAD")
            ), STRICT_CSP
        if path in ("/", "/index.html"):
            return self.explorer(), EXPLORER_CSP
        params = parse_qs(query_string)
        accept = environ.get("HTTP_ACCEPT")
        if path.startswith(pages.PAGE_PREFIX):
            return self.document(path[len(pages.PAGE_PREFIX) :], "html"), STRICT_CSP
        if path.startswith(pages.DATA_PREFIX):
            return self.data(path[len(pages.DATA_PREFIX) :], accept, params), STRICT_CSP
        for prefix in self.config.ld_prefixes:
            if path.startswith(prefix) and len(path) > len(prefix):
                return self.resource(path[len(prefix) :], accept, params), STRICT_CSP
        return error(404, f"not found: {path}"), STRICT_CSP

    # --- SPARQL protocol -----------------------------------------------------------------------

    def sparql(self, method: str, environ: Mapping[str, Any], query_string: str) -> Reply:
        params = parse_qs(query_string, keep_blank_values=True)
        if method == "POST":
            ctype = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error(400, "bad Content-Length")
            if length > self.config.max_body:
                return error(413, f"request body too large (over {self.config.max_body:,} bytes)")
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            if ctype == "application/sparql-update":
                return error(400, READ_ONLY_MESSAGE)
            if ctype == "application/x-www-form-urlencoded":
                try:
                    form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
                except UnicodeDecodeError:
                    return error(400, "the form is not UTF-8")
                for key, values in form.items():
                    params.setdefault(key, []).extend(values)
            elif ctype == "application/sparql-query":
                try:
                    params.setdefault("query", []).append(body.decode("utf-8"))
                except UnicodeDecodeError:
                    return error(400, "the query is not UTF-8")
            else:
                return error(
                    415,
                    "POST a query as application/x-www-form-urlencoded (query=...) or as "
                    "application/sparql-query",
                )
        if "update" in params or "using-graph-uri" in params or "using-named-graph-uri" in params:
            return error(400, READ_ONLY_MESSAGE)
        queries = params.get("query", [])
        if not queries:
            if method == "POST":
                return error(400, "no query: give a query parameter (SPARQL 1.1 Protocol)")
            return Reply(200, "text/html; charset=utf-8", pages.query_form())
        if len(queries) > 1:
            return error(400, "more than one query parameter")
        formats = params.get("format", []) + params.get("output", []) + params.get("results", [])
        request = {
            "op": "query",
            "query": queries[0],
            "accept": environ.get("HTTP_ACCEPT"),
            "format_params": formats,
            "default_graphs": params.get("default-graph-uri", []),
            "named_graphs": params.get("named-graph-uri", []),
            "max_rows": self.config.max_rows,
        }
        return self._call(request)

    def _call(self, request: Mapping[str, Any]) -> Reply:
        try:
            return self.pool.call(request)
        except QueryTimeout:
            bound = self.pool.timeout
            return error(
                503,
                f"query timed out after {bound:g} s (the endpoint's limit, kgraph serve "
                "--timeout); add a LIMIT or narrow the query",
            )
        except PoolBusy:
            return error(503, "server busy: every query worker stayed busy; try again later")
        except WorkerError as exc:
            return error(500, f"query failed: {exc}")

    # --- Linked Data ---------------------------------------------------------------------------

    def _iris(self, rest: str) -> list[str]:
        """The IRIs a local path may stand for: as sent, and re-encoded canonically."""
        candidates = [self.config.base + rest]
        canonical = self.config.base + quote(unquote(rest), safe=_IRI_SAFE)
        if canonical not in candidates:
            candidates.append(canonical)
        return candidates

    def resource(self, rest: str, accept: str | None, params: Mapping[str, list[str]]) -> Reply:
        """A Linked Data IRI: 303 to the page (browsers) or the data document (others)."""
        found = self._call({"op": "exists", "iris": self._iris(rest)})
        if found.status != 200:
            return _with(found, ("Vary", "Accept"))
        iri = found.body.decode()
        rest = iri[len(self.config.base) :]
        fmt = choose("graph", accept, params.get("format", []))
        target = (
            pages.PAGE_PREFIX + rest
            if fmt.name == "html"
            else pages.DATA_PREFIX + rest + fmt.extension
        )
        reply = Reply(303, "text/plain; charset=utf-8", f"See {target}\n".encode())
        return _with(reply, ("Location", target), ("Vary", "Accept"))

    def document(self, rest: str, fmt_name: str, vary: bool = False) -> Reply:
        links = {f.name: pages.DATA_PREFIX + rest + f.extension for f in GRAPH if f.name != "html"}
        reply = self._call(
            {"op": "describe", "iris": self._iris(rest), "format": fmt_name, "links": links}
        )
        return _with(reply, ("Vary", "Accept")) if vary else reply

    def data(self, rest: str, accept: str | None, params: Mapping[str, list[str]]) -> Reply:
        for fmt in GRAPH:
            if fmt.name != "html" and rest.endswith(fmt.extension):
                return self.document(rest[: -len(fmt.extension)], fmt.name)
        fmt = choose("graph", accept, params.get("format", []), allow_html=False)
        reply = self.document(rest, fmt.name, vary=True)
        if reply.status != 200:
            return reply
        return _with(reply, ("Content-Location", pages.DATA_PREFIX + rest + fmt.extension))

    # --- the explorer --------------------------------------------------------------------------

    def explorer(self) -> Reply:
        if self._explorer is None:
            if self.config.explorer is None:
                self._explorer = pages.query_form()
            else:
                self._explorer = self.config.explorer()
        return Reply(200, "text/html; charset=utf-8", self._explorer)


def _with(reply: Reply, *headers: tuple[str, str]) -> Reply:
    reply.headers.extend(headers)
    return reply


def _loopback_host(host: str) -> bool:
    """Whether a Host header names the loopback interface (DNS rebinding guard)."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name in ("localhost", "") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
