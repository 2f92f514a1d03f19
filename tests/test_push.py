"""`kgraph push` into a real Virtuoso (Debian ``virtuoso-opensource``), started by the test.

Virtuoso runs on 127.0.0.1 with its own database folder and free ports, and is stopped in the
fixture's finaliser even when a test fails. The push goes through its SPARQL 1.1 Graph Store
endpoint with Digest authentication (``/sparql-graph-crud-auth``, user dba), the realistic
setup; the counts are then read back over its SPARQL endpoint and compared with the bundle's.
"""

from __future__ import annotations

import base64
import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from kgraph.bundle import load_graph
from kgraph.push import PushError, push_bundle
from kgraph.rdf.convert import iter_statements

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "graphs" / "seeds"
BASE = "https://w3id.org/kgraph/id/"


INI = """\
[Database]
DatabaseFile = {dir}/virtuoso.db
ErrorLogFile = {dir}/virtuoso.log
LockFile = {dir}/virtuoso.lck
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
DisableTcpSocket = 0
MaxClientConnections = 10
CheckpointInterval = 60
CaseMode = 2
DirsAllowed = ., {dir}
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
ThreadsPerQuery = 2

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = /var/lib/virtuoso-opensource-7/vsp
MaxClientConnections = 10
ServerThreads = 10
MaxKeepAlives = 10
KeepAliveTimeout = 10
Charset = UTF-8
EnabledGzipContent = 0

[SPARQL]
ResultSetMaxRows = 100000
MaxQueryExecutionTime = 120
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Virtuoso:
    url: str  #: http://127.0.0.1:PORT/
    process: subprocess.Popen[bytes]

    @property
    def gsp(self) -> str:
        return self.url + "sparql-graph-crud-auth"

    def select(self, query: str) -> list[list[str]]:
        """Rows of a SELECT as CSV cells (header row dropped)."""
        params = urllib.parse.urlencode({"query": query, "format": "text/csv"})
        with urllib.request.urlopen(f"{self.url}sparql?{params}", timeout=120) as answer:
            lines = answer.read().decode().splitlines()[1:]
        return [[cell.strip('"') for cell in line.split(",")] for line in lines]


@pytest.fixture(scope="module")
def virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Virtuoso]:
    if shutil.which("virtuoso-t") is None:
        # CI installs it (.ci/run): a missing Virtuoso must not pass silently
        pytest.fail("Virtuoso (Debian virtuoso-opensource) is not installed: see .ci/run")
    folder = tmp_path_factory.mktemp("virtuoso")
    http_port = _free_port()
    ini = folder / "virtuoso.ini"
    ini.write_text(INI.format(dir=folder, sql_port=_free_port(), http_port=http_port))
    log = open(folder / "stdout.log", "wb")  # noqa: SIM115 (closed in the finaliser)
    process = subprocess.Popen(
        ["virtuoso-t", "+foreground", "+configfile", str(ini)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Virtuoso(f"http://127.0.0.1:{http_port}/", process)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"Virtuoso exited: {(folder / 'stdout.log').read_text()[-2000:]}")
            try:
                if server.select("SELECT (1 AS ?one) WHERE {}") == [["1"]]:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("Virtuoso did not answer within 120 s")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass(frozen=True)
class Expected:
    papers: int
    entities: int
    triples_per_graph: Counter[str]


@pytest.fixture(scope="module")
def expected() -> Expected:
    """The bundle's own figures: nodes of graph.json, quads of its RDF per named graph."""
    _, graph = load_graph(SEEDS)
    kinds = Counter(attrs.get("kind") for _, attrs in graph.nodes(data=True))
    quads = {(g, spo) for g, spo in iter_statements(graph, BASE)}
    per_graph = Counter(g[1:-1] for g, _ in quads)
    return Expected(kinds["paper"], kinds["entity"], per_graph)


def _figures(store: Virtuoso) -> tuple[int, int, Counter[str]]:
    papers = store.select(
        "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE "
        "{ GRAPH ?g { ?p a <https://schema.org/ScholarlyArticle> } }"
    )
    entities = store.select(
        "SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE "
        "{ GRAPH ?g { ?e a <https://w3id.org/kgraph/ontology#Entity> } }"
    )
    rows = store.select(
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } "
        f'FILTER(STRSTARTS(STR(?g), "{BASE}graph/")) }} GROUP BY ?g'
    )
    return int(papers[0][0]), int(entities[0][0]), Counter({g: int(n) for g, n in rows})


def test_push_then_push_again(virtuoso: Virtuoso, expected: Expected) -> None:
    assert expected.papers == 314 and expected.entities == 1745
    assert len(expected.triples_per_graph) == 315  # one graph per paper + the entities graph

    report = push_bundle(SEEDS, virtuoso.gsp, user="dba", password="dba")
    assert report.graphs == 315 and report.requests == 315
    assert report.triples == sum(expected.triples_per_graph.values())
    papers, entities, per_graph = _figures(virtuoso)
    assert (papers, entities) == (314, 1745)
    assert per_graph == expected.triples_per_graph

    # a second push (the command this time) replaces every graph: nothing is duplicated
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgraph",
            "push",
            str(SEEDS),
            "--endpoint",
            virtuoso.gsp,
            "--user",
            "dba",
            "--password",
            "dba",
            "--auth",
            "digest",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    total = sum(expected.triples_per_graph.values())
    assert f"pushed {total:,} triples in 315 graphs to {virtuoso.gsp}" in result.stderr
    assert _figures(virtuoso) == (papers, entities, per_graph)


def test_push_into_one_graph(virtuoso: Virtuoso, expected: Expected) -> None:
    target = "https://example.org/kgraph-all"
    report = push_bundle(SEEDS, virtuoso.gsp, graph=target, user="dba", password="dba")
    count = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{target}> {{ ?s ?p ?o }} }}"
    (n,) = virtuoso.select(count)[0]
    # the union of the bundle's graphs: a triple in several paper graphs counts once
    _, graph = load_graph(SEEDS)
    union = {spo for _, spo in iter_statements(graph, BASE, union=True)}
    assert int(n) == len(union) == report.triples
    push_bundle(SEEDS, virtuoso.gsp, graph=target, user="dba", password="dba")
    assert virtuoso.select(count)[0] == [n]


def test_push_errors_are_one_line(virtuoso: Virtuoso) -> None:
    with pytest.raises(PushError, match=r"authentication failed: .* refused user 'dba'"):
        push_bundle(SEEDS, virtuoso.gsp, user="dba", password="wrong")
    with pytest.raises(PushError, match="asks for authentication: give --user and --password"):
        push_bundle(SEEDS, virtuoso.gsp)
    with pytest.raises(
        PushError, match=r"cannot reach http://127\.0\.0\.1:\d+/gsp: connection refused"
    ):
        push_bundle(SEEDS, f"http://127.0.0.1:{_free_port()}/gsp")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgraph",
            "push",
            str(SEEDS),
            "--endpoint",
            virtuoso.gsp,
            "--user",
            "dba",
            "--password",
            "wrong",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "authentication failed" in result.stderr


# --- against a minimal Graph Store (Basic auth, a transient failure) ----------------------------


class _Store(http.server.BaseHTTPRequestHandler):
    """A Graph Store that wants Basic auth and fails the first PUT of one graph with 503."""

    graphs: ClassVar[dict[str, bytes]] = {}
    log: ClassVar[list[tuple[str, str]]] = []
    failed: ClassVar[set[str]] = set()
    flaky = f"{BASE}graph/entities"

    def log_message(self, *args: object) -> None:
        pass

    def _graph(self) -> str:
        query = urllib.parse.urlsplit(self.path).query
        return urllib.parse.parse_qs(query)["graph"][0]

    def _authorised(self) -> bool:
        token = base64.b64encode(b"alice:s3cret").decode()
        if self.headers.get("Authorization") == f"Basic {token}":
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="gsp"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if self._authorised():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _write(self, replace: bool) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not self._authorised():
            return
        graph = self._graph()
        self.log.append((self.command, graph))
        if graph == self.flaky and graph not in self.failed:
            self.failed.add(graph)
            self.send_response(503)
        else:
            self.graphs[graph] = body if replace else self.graphs.get(graph, b"") + body
            self.send_response(201 if replace else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self._write(True)

    def do_POST(self) -> None:
        self._write(False)


def test_push_with_basic_auth_and_a_retry(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(ROOT / "tests" / "fixtures" / "serve" / "hostile-bundle", bundle)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/gsp"
        with pytest.raises(PushError, match="give --user and --password"):
            push_bundle(bundle, endpoint)
        sent: list[int | None] = []

        class Bar:
            def __init__(self, total: int | None) -> None:
                sent.append(total)

            def __enter__(self) -> Bar:
                return self

            def __exit__(self, *exc: object) -> None:
                pass

            def update(self, n: int) -> None:
                sent.append(n)

        report = push_bundle(bundle, endpoint, user="alice", password="s3cret", progress=Bar)
    finally:
        server.shutdown()
        server.server_close()
    paper_graphs = {f"{BASE}graph/paper/2501.00001", f"{BASE}graph/paper/2501.00002"}
    assert set(_Store.graphs) == paper_graphs | {_Store.flaky}
    assert (report.graphs, report.requests, report.retries) == (3, 3, 1)
    assert sent == [3, 1, 1, 1]  # the total, then one per graph
    assert [m for m, _ in _Store.log] == ["PUT"] * 4  # one PUT per graph, the 503 retried
    _, graph = load_graph(bundle)
    for name in _Store.graphs:
        want = {spo for g, spo in iter_statements(graph, BASE) if g == f"<{name}>"}
        got = {line.removesuffix(" .") for line in _Store.graphs[name].decode().splitlines()}
        assert got == want
