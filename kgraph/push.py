"""``kgraph push``: load a bundle into a triple store over the SPARQL 1.1 Graph Store Protocol.

Every named graph of the bundle's RDF (one per paper, ``{base}graph/paper/{id}``, and
``{base}graph/entities``; see :mod:`kgraph.rdf.convert`) is sent as
``PUT {endpoint}?graph={graph IRI}`` with its triples (N-Triples, sent as ``text/turtle``, which
every store reads). PUT *replaces* a graph, so pushing again updates the store instead of
adding duplicates. ``graph=IRI`` sends everything into that one graph instead: a PUT of the
first batch, then POSTs (append) of the others.

Many small graphs go over a few threads, each with its own keep-alive connection; transient
failures (connection errors, 429, 5xx) are retried. Basic and Digest authentication are both
supported (Virtuoso's ``/sparql-graph-crud-auth`` uses Digest); ``auth="auto"`` asks the
endpoint which it wants. Errors are :class:`PushError` with a one-line message::

    from kgraph.push import push_bundle
    report = push_bundle("graphs/seeds", "http://localhost:8890/sparql-graph-crud-auth",
                         user="dba", password="dba")
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlencode, urlsplit

from .exporters import DEFAULT_BASE

if TYPE_CHECKING:
    import networkx as nx
    import requests

__all__ = ["GraphBody", "PushError", "PushReport", "graph_bodies", "push_bundle", "push_graph"]

#: triples per request when everything goes into one graph
BATCH_TRIPLES: Final = 50_000
#: statuses worth another try (the store was busy, restarting, or hit a deadlock)
_TRANSIENT: Final = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_TYPE: Final = "text/turtle; charset=utf-8"  # N-Triples is Turtle


class PushError(Exception):
    """The push failed: endpoint unreachable, authentication refused, a graph rejected."""


class Progress(Protocol):
    def update(self, n: int) -> Any: ...


@dataclass(frozen=True)
class GraphBody:
    """One request: the triples (N-Triples bytes) of one graph, to replace or append."""

    graph: str  #: the target graph IRI
    body: bytes
    triples: int
    replace: bool = True  #: PUT (replace the graph) or POST (add to it)


@dataclass
class PushReport:
    """What a push did."""

    endpoint: str
    graphs: int = 0  #: graphs written (PUT)
    requests: int = 0  #: HTTP requests that succeeded
    triples: int = 0
    bytes: int = 0
    retries: int = 0
    seconds: float = 0.0

    @property
    def graphs_per_second(self) -> float:
        return self.graphs / self.seconds if self.seconds > 0 else 0.0


def _iri(term: str) -> str:
    return term[1:-1] if term.startswith("<") and term.endswith(">") else term


def graph_bodies(
    graph: nx.MultiDiGraph, base: str = DEFAULT_BASE, batch: int = BATCH_TRIPLES
) -> Iterator[GraphBody]:
    """The bundle's RDF as one body per named graph, in the order the converter gives them.

    A graph of more than ``batch`` triples (the entities graph of a large bundle) is sent as
    a replace of its first ``batch`` triples, then appends. A graph met again after its run
    (the converter keeps each paper's graph in one run, so this should not happen) is
    appended rather than replaced, so nothing is lost.
    """
    from .rdf.convert import iter_statements

    seen: set[str] = set()
    for term, statements in itertools.groupby(iter_statements(graph, base), key=lambda s: s[0]):
        iri = _iri(term)
        lines = list(dict.fromkeys(f"{spo} .\n" for _, spo in statements))
        for start in range(0, len(lines), batch):
            chunk = lines[start : start + batch]
            body = "".join(chunk).encode("utf-8")
            yield GraphBody(iri, body, len(chunk), replace=iri not in seen)
            seen.add(iri)


def single_graph_bodies(
    graph: nx.MultiDiGraph, target: str, base: str = DEFAULT_BASE, batch: int = BATCH_TRIPLES
) -> Iterator[GraphBody]:
    """Every triple of the bundle (the union of its graphs) in batches for one graph."""
    from .rdf.convert import iter_statements

    statements = (f"{spo} .\n" for _, spo in iter_statements(graph, base, union=True))
    first = True
    while True:
        chunk = list(itertools.islice(statements, batch))
        if not chunk and not first:
            return
        yield GraphBody(target, "".join(chunk).encode("utf-8"), len(chunk), replace=first)
        first = False


class _Client:
    """HTTP to one Graph Store endpoint: a session per thread, authentication, retries."""

    def __init__(
        self,
        endpoint: str,
        user: str | None,
        password: str | None,
        auth: str,
        timeout: float,
        retries: int,
    ) -> None:
        self.endpoint = endpoint
        self.user = user
        self.password = password or ""
        self.auth = auth
        self.timeout = timeout
        self.retries = retries
        self._local = threading.local()
        self.retried = 0
        self._lock = threading.Lock()

    def _auth(self) -> Any:
        from requests.auth import HTTPBasicAuth, HTTPDigestAuth

        if self.user is None or self.auth == "none":
            return None
        if self.auth == "digest":
            return HTTPDigestAuth(self.user, self.password)
        return HTTPBasicAuth(self.user, self.password)

    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.auth = self._auth()
            self._local.session = session
        return session

    def url(self, graph: str) -> str:
        joiner = "&" if "?" in self.endpoint else "?"
        return f"{self.endpoint}{joiner}{urlencode({'graph': graph})}"

    def probe(self, graph: str) -> None:
        """Check the endpoint answers (and settle ``auth`` when "auto") before pushing."""
        import requests

        try:
            answer = requests.get(self.url(graph), timeout=self.timeout)
        except requests.RequestException as exc:
            raise PushError(f"cannot reach {self.endpoint}: {_reason(exc)}") from None
        if answer.status_code == 401:
            if self.user is None:
                raise PushError(
                    f"{self.endpoint} asks for authentication: give --user and --password"
                )
            if self.auth == "auto":
                scheme = answer.headers.get("WWW-Authenticate", "").lower()
                self.auth = "digest" if scheme.startswith("digest") else "basic"
        elif self.auth == "auto":
            self.auth = "basic"
        if self.user is not None:
            try:
                answer = self.session().get(self.url(graph), timeout=self.timeout)
            except requests.RequestException as exc:
                raise PushError(f"cannot reach {self.endpoint}: {_reason(exc)}") from None
            if answer.status_code in (401, 403):
                raise PushError(
                    f"authentication failed: {self.endpoint} refused user {self.user!r} "
                    f"({answer.status_code} with {self.auth} authentication)"
                )

    def send(self, item: GraphBody) -> None:
        import requests

        method = "PUT" if item.replace else "POST"
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                answer = self.session().request(
                    method,
                    self.url(item.graph),
                    data=item.body,
                    headers={"Content-Type": _CONTENT_TYPE},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise PushError(
                        f"cannot reach {self.endpoint}: {_reason(exc)} "
                        f"(after {self.retries + 1} tries)"
                    ) from None
            else:
                if answer.status_code < 300:
                    return
                if answer.status_code in (401, 403):
                    raise PushError(
                        f"authentication failed: {self.endpoint} answered "
                        f"{answer.status_code} to {method} of <{item.graph}>"
                        + ("" if self.user else " (give --user and --password)")
                    )
                if answer.status_code not in _TRANSIENT or attempt == self.retries:
                    raise PushError(
                        f"{self.endpoint} refused {method} of <{item.graph}>: "
                        f"{answer.status_code} {_first_line(answer.text)}"
                    )
            with self._lock:
                self.retried += 1
            time.sleep(delay)
            delay *= 2


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "timed out" in text.lower():
        return "timed out"
    return type(exc).__name__


def _first_line(text: str) -> str:
    import re

    plain = re.sub(r"<[^>]+>", " ", text)
    lines = [" ".join(line.split()) for line in plain.splitlines()]
    useful = [line for line in lines if line and not line.startswith("<!DOCTYPE")]
    # Virtuoso puts the reason last, after the status it repeats in a heading
    reason = next((line for line in reversed(useful) if ":" in line), useful[0] if useful else "")
    return reason[:200]


def push_graph(
    bodies: Iterable[GraphBody],
    endpoint: str,
    *,
    user: str | None = None,
    password: str | None = None,
    auth: str = "auto",
    workers: int = 4,
    timeout: float = 60.0,
    retries: int = 3,
    on_sent: Callable[[GraphBody], None] | None = None,
) -> PushReport:
    """Send ``bodies`` to the Graph Store ``endpoint``; what was sent.

    Up to ``workers`` requests are in flight at once; replacing the same graph twice is
    avoided by the order of ``bodies`` (an append for a graph waits for its replace).
    """
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PushError(f"endpoint {endpoint!r} is not an http(s) URL")
    if auth not in ("auto", "basic", "digest", "none"):
        raise PushError(f"unknown authentication {auth!r} (auto, basic, digest or none)")
    report = PushReport(endpoint)
    client = _Client(endpoint, user, password, auth, timeout, retries)
    started = time.perf_counter()
    items = iter(bodies)
    first = next(items, None)
    if first is None:
        return report
    client.probe(first.graph)
    failure: list[BaseException] = []
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(max(1, workers) * 4)
    replacing: dict[str, Future[None]] = {}  # the PUT of each graph (its appends wait for it)

    def done(item: GraphBody, future: Future[None]) -> None:
        slots.release()
        exc = future.exception()
        with lock:
            if exc is not None:
                failure.append(exc)
                return
            report.requests += 1
            report.graphs += item.replace
            report.triples += item.triples
            report.bytes += len(item.body)
        if on_sent is not None:
            on_sent(item)

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="kgraph-push")
    try:
        for item in itertools.chain([first], items):
            if failure:
                break
            put = None if item.replace else replacing.get(item.graph)
            if put is not None:
                put.exception()  # wait: an append must not overtake the replace
            slots.acquire()
            future = pool.submit(client.send, item)
            future.add_done_callback(functools.partial(done, item))
            if item.replace:
                replacing[item.graph] = future
                if len(replacing) > 10_000:
                    replacing = {g: f for g, f in replacing.items() if not f.done()}
    except BaseException:  # Ctrl-C or a failing input: send nothing more
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    report.retries = client.retried
    report.seconds = time.perf_counter() - started
    if failure:
        exc = failure[0]
        raise exc if isinstance(exc, PushError) else PushError(f"push failed: {exc}")
    return report


def push_bundle(
    bundle: str | os.PathLike[str],
    endpoint: str,
    *,
    graph: str | None = None,
    base: str = DEFAULT_BASE,
    user: str | None = None,
    password: str | None = None,
    auth: str = "auto",
    workers: int = 4,
    timeout: float = 60.0,
    retries: int = 3,
    progress: Callable[[int | None], AbstractContextManager[Progress]] | None = None,
) -> PushReport:
    """Push the bundle in ``bundle`` to ``endpoint``: one PUT per named graph, or everything
    into ``graph``. :class:`kgraph.bundle.BundleError` for an unsound bundle,
    :class:`PushError` when the store refuses or cannot be reached.

    ``progress(total)`` (e.g. a tqdm factory) is entered around the push and updated with the
    number of graphs (or triples, for a single graph) sent.
    """
    from .bundle import load_graph
    from .rdf.namespaces import InvalidBase, normalise_base

    try:
        base = normalise_base(base)
    except InvalidBase as exc:
        raise PushError(str(exc)) from None
    _, nxgraph = load_graph(bundle)
    if graph is not None:
        bodies: Iterable[GraphBody] = single_graph_bodies(nxgraph, graph, base)
        total: int | None = None
    else:
        bodies = graph_bodies(nxgraph, base)
        total = sum(1 for _, a in nxgraph.nodes(data=True) if a.get("kind") == "paper") + 1
    bar: AbstractContextManager[Any] = progress(total) if progress else nullcontext()
    with bar as meter:

        def on_sent(item: GraphBody) -> None:
            if meter is not None:
                meter.update(item.triples if graph is not None else int(item.replace))

        return push_graph(
            bodies,
            endpoint,
            user=user,
            password=password,
            auth=auth,
            workers=workers,
            timeout=timeout,
            retries=retries,
            on_sent=on_sent,
        )
