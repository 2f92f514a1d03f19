"""`kgraph serve`: a real HTTP server on a free loopback port, queried with SPARQLWrapper.

The server runs over a copy of the example bundle (graphs/seeds: 314 papers) and over a small
bundle built from hostile input (tests/fixtures/serve/hostile-bundle, built by
``kgraph build tests/fixtures/serve/hostile.jsonl``: markup and quotes in a title and an
abstract).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.dom.minidom import Document

import pytest
import rdflib
from SPARQLWrapper import (
    CSV,
    JSON,
    JSONLD,
    POST,
    POSTDIRECTLY,
    TSV,
    TURTLE,
    XML,
    SPARQLWrapper,
)
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

from kgraph.serve import ServeError, open_bundle_server
from kgraph.serve.negotiate import choose
from kgraph.serve.results import boolean_bytes, rows_bytes
from kgraph.serve.server import KgraphServer

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "graphs" / "seeds"
HOSTILE = ROOT / "tests" / "fixtures" / "serve" / "hostile-bundle"
BASE = "https://w3id.org/kgraph/id/"
TIMEOUT = 3.0  # the servers' query time bound (s)

PREFIXES = """\
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX schema: <https://schema.org/>
PREFIX kg: <https://w3id.org/kgraph/ontology#>
"""
COUNT_PAPERS = PREFIXES + "SELECT (COUNT(?p) AS ?n) WHERE { ?p a schema:ScholarlyArticle }"
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def _copy(bundle: Path, target: Path) -> Path:
    shutil.copytree(bundle, target, ignore=shutil.ignore_patterns("store", ".store-*"))
    return target


@contextmanager
def _run(server: KgraphServer) -> Iterator[KgraphServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.close()
        thread.join(5)


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(SEEDS, tmp_path_factory.mktemp("serve") / "seeds")


@pytest.fixture(scope="module")
def server(seeds_dir: Path) -> Iterator[KgraphServer]:
    with _run(open_bundle_server(seeds_dir, port=0, timeout=TIMEOUT, workers=2)) as running:
        yield running


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KgraphServer]:
    folder = _copy(HOSTILE, tmp_path_factory.mktemp("serve") / "hostile")
    # the explorer at / is the bundle's own graph.html when it has one
    (folder / "graph.html").write_text("<!DOCTYPE html><title>explorer of hostile</title>")
    with _run(open_bundle_server(folder, port=0, timeout=TIMEOUT, workers=1)) as running:
        yield running


@pytest.fixture(scope="module")
def paper() -> dict[str, str]:
    """A known paper of the example bundle (the first of papers.jsonl)."""
    first = json.loads((SEEDS / "papers.jsonl").read_text().splitlines()[0])
    return {"id": first["id"], "title": first["title"]}


def sparql(server: KgraphServer, query: str, fmt: str) -> SPARQLWrapper:
    client = SPARQLWrapper(server.url + "sparql")
    client.setQuery(query)
    client.setReturnFormat(fmt)
    client.setTimeout(30)
    return client


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(
    url: str,
    *,
    accept: str | None = None,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    follow: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if accept:
        request.add_header("Accept", accept)
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# --- SELECT / ASK / CONSTRUCT through SPARQLWrapper ---------------------------------------------


def test_select_in_every_results_format(server: KgraphServer) -> None:
    result = sparql(server, COUNT_PAPERS, JSON).queryAndConvert()
    assert isinstance(result, dict)
    assert result["head"]["vars"] == ["n"]
    assert result["results"]["bindings"][0]["n"]["value"] == "314"

    doc = sparql(server, COUNT_PAPERS, XML).queryAndConvert()
    assert isinstance(doc, Document)
    literal = doc.getElementsByTagName("literal")[0]
    assert literal.firstChild is not None and literal.firstChild.nodeValue == "314"
    assert literal.getAttribute("datatype").endswith("#integer")

    table = sparql(server, COUNT_PAPERS, CSV).queryAndConvert()
    assert isinstance(table, bytes)
    assert list(csv.reader(io.StringIO(table.decode()))) == [["n"], ["314"]]

    tsv = sparql(server, COUNT_PAPERS, TSV).queryAndConvert()
    assert isinstance(tsv, bytes)
    assert tsv.decode().splitlines() == [
        "?n",
        '"314"^^<http://www.w3.org/2001/XMLSchema#integer>',
    ]


def test_select_returns_a_known_paper(server: KgraphServer, paper: dict[str, str]) -> None:
    query = PREFIXES + (
        f'SELECT ?p ?title WHERE {{ ?p dcterms:identifier "{paper["id"]}" ; dcterms:title ?title }}'
    )
    rows = sparql(server, query, JSON).queryAndConvert()["results"]["bindings"]  # type: ignore[index]
    assert [(r["p"]["value"], r["title"]["value"]) for r in rows] == [
        (f"{BASE}paper/{paper['id']}", paper["title"])
    ]
    # the same row as CSV and TSV, quoting done right
    table = sparql(server, query, CSV).queryAndConvert()
    assert list(csv.reader(io.StringIO(table.decode())))[1] == [  # type: ignore[union-attr]
        f"{BASE}paper/{paper['id']}",
        paper["title"],
    ]
    tsv = sparql(server, query, TSV).queryAndConvert().decode()  # type: ignore[union-attr]
    assert tsv.splitlines()[1].split("\t")[0] == f"<{BASE}paper/{paper['id']}>"


def test_ask_in_every_results_format(server: KgraphServer, paper: dict[str, str]) -> None:
    yes = PREFIXES + f'ASK {{ ?p dcterms:identifier "{paper["id"]}" }}'
    no = PREFIXES + 'ASK { ?p dcterms:identifier "no-such-paper" }'
    assert sparql(server, yes, JSON).queryAndConvert() == {"head": {}, "boolean": True}
    assert sparql(server, no, JSON).queryAndConvert() == {"head": {}, "boolean": False}
    doc = sparql(server, yes, XML).queryAndConvert()
    assert isinstance(doc, Document)
    assert doc.getElementsByTagName("boolean")[0].firstChild.nodeValue == "true"  # type: ignore[union-attr]
    assert sparql(server, yes, CSV).queryAndConvert().strip() == b"true"  # type: ignore[union-attr]
    assert sparql(server, no, TSV).queryAndConvert().strip() == b"false"  # type: ignore[union-attr]


def test_construct_as_turtle_and_jsonld(server: KgraphServer, paper: dict[str, str]) -> None:
    query = PREFIXES + (
        "CONSTRUCT { ?p dcterms:title ?t }"
        " WHERE { ?p a schema:ScholarlyArticle ; dcterms:title ?t }"
    )
    iri = rdflib.URIRef(f"{BASE}paper/{paper['id']}")
    title = rdflib.URIRef("http://purl.org/dc/terms/title")

    turtle = sparql(server, query, TURTLE).queryAndConvert()
    assert isinstance(turtle, bytes)
    graph = rdflib.Graph().parse(data=turtle, format="turtle")
    assert len(graph) == 314
    assert str(graph.value(iri, title)) == paper["title"]

    jsonld = sparql(server, query, JSONLD).queryAndConvert()
    assert isinstance(jsonld, rdflib.Graph)
    assert len(jsonld) == 314
    assert str(jsonld.value(iri, title)) == paper["title"]
    assert set(graph) == set(jsonld)


def test_describe_as_turtle(server: KgraphServer, paper: dict[str, str]) -> None:
    turtle = sparql(server, f"DESCRIBE <{BASE}paper/{paper['id']}>", TURTLE).queryAndConvert()
    graph = rdflib.Graph().parse(data=turtle, format="turtle")  # type: ignore[arg-type]
    subject = rdflib.URIRef(f"{BASE}paper/{paper['id']}")
    assert (
        str(graph.value(subject, rdflib.URIRef("http://purl.org/dc/terms/title"))) == paper["title"]
    )


def test_post_form_and_direct(server: KgraphServer) -> None:
    client = sparql(server, COUNT_PAPERS, JSON)
    client.setMethod(POST)
    assert client.queryAndConvert()["results"]["bindings"][0]["n"]["value"] == "314"  # type: ignore[index]
    client = sparql(server, COUNT_PAPERS, JSON)
    client.setMethod(POST)
    client.setRequestMethod(POSTDIRECTLY)
    assert client.queryAndConvert()["results"]["bindings"][0]["n"]["value"] == "314"  # type: ignore[index]


def test_format_parameter_and_default_graph(server: KgraphServer, paper: dict[str, str]) -> None:
    query = urllib.parse.quote(COUNT_PAPERS)
    status, headers, body = fetch(f"{server.url}sparql?query={query}&format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body == b"n\r\n314\r\n"
    # default-graph-uri: only the named graph of one paper
    graph = urllib.parse.quote(f"{BASE}graph/paper/{paper['id']}")
    status, _, body = fetch(
        f"{server.url}sparql?query={query}&default-graph-uri={graph}&format=csv"
    )
    assert (status, body) == (200, b"n\r\n1\r\n")


# --- safety: read-only, bounded, clear errors --------------------------------------------------


def test_update_is_refused(server: KgraphServer) -> None:
    insert = f'INSERT DATA {{ <{BASE}paper/evil> <http://purl.org/dc/terms/title> "evil" }}'
    client = SPARQLWrapper(server.url + "sparql")
    client.setQuery(insert)
    client.setMethod(POST)
    with pytest.raises(QueryBadFormed, match="read-only"):
        client.query()
    # the Protocol's other ways to send an update, and an update sent as a query
    url = server.url + "sparql"
    for data, ctype in (
        (insert.encode(), "application/sparql-update"),
        (urllib.parse.urlencode({"update": insert}).encode(), "application/x-www-form-urlencoded"),
        (urllib.parse.urlencode({"query": insert}).encode(), "application/x-www-form-urlencoded"),
        (b"DROP ALL", "application/sparql-query"),
    ):
        status, _, body = fetch(url, data=data, method="POST", headers={"Content-Type": ctype})
        assert (status, body) == (
            400,
            b"SPARQL Update is not allowed: this endpoint is read-only\n",
        )
    status, _, body = fetch(f"{url}?update={urllib.parse.quote(insert)}")
    assert status == 400 and b"read-only" in body
    ask = f"ASK {{ <{BASE}paper/evil> ?p ?o }}"
    assert sparql(server, ask, JSON).queryAndConvert()["boolean"] is False  # type: ignore[index]


def test_runaway_query_times_out_and_the_server_recovers(server: KgraphServer) -> None:
    started = time.monotonic()
    status, headers, body = fetch(f"{server.url}sparql?query={urllib.parse.quote(RUNAWAY)}")
    took = time.monotonic() - started
    assert status == 503
    assert body.decode().startswith(f"query timed out after {TIMEOUT:g} s")
    assert "--timeout" in body.decode()
    assert TIMEOUT - 0.1 <= took < TIMEOUT + 5
    assert headers["Content-Type"].startswith("text/plain")
    # the worker was killed and replaced: queries keep working
    for _ in range(3):
        result = sparql(server, COUNT_PAPERS, JSON).queryAndConvert()
        assert result["results"]["bindings"][0]["n"]["value"] == "314"  # type: ignore[index]


def test_result_size_is_bounded(server: KgraphServer) -> None:
    status, _, body = fetch(
        f"{server.url}sparql?query={urllib.parse.quote('SELECT * { ?s ?p ?o }')}"
    )
    assert status == 400
    assert body.decode().startswith("result too large: more than 10,000 rows")
    construct = "CONSTRUCT WHERE { ?s ?p ?o }"
    status, _, body = fetch(f"{server.url}sparql?query={urllib.parse.quote(construct)}")
    assert status == 400 and b"more than 10,000 triples" in body


def test_bad_requests_get_one_line(server: KgraphServer) -> None:
    status, headers, body = fetch(f"{server.url}sparql?query={urllib.parse.quote('SELEC ?x')}")
    assert status == 400 and body.startswith(b"SPARQL syntax error: ") and body.count(b"\n") == 1
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = fetch(server.url + "sparql", method="DELETE")
    assert status == 405 and headers["Allow"] == "GET, HEAD, POST"
    status, _, body = fetch(
        server.url + "sparql", data=b"x", method="POST", headers={"Content-Type": "text/plain"}
    )
    assert status == 415
    # a page elsewhere that resolves to this server is refused (DNS rebinding)
    status, _, body = fetch(server.url + "sparql", headers={"Host": "evil.example"})
    assert status == 400 and b"Host" in body
    status, _, _ = fetch(server.url + "nothing-here")
    assert status == 404


# --- Linked Data ------------------------------------------------------------------------------


def test_linked_data_iri_negotiates_html_and_turtle(
    server: KgraphServer, paper: dict[str, str]
) -> None:
    iri_path = f"id/paper/{paper['id']}"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    status, headers, _ = fetch(server.url + iri_path, accept=browser, follow=False)
    assert status == 303 and headers["Location"] == f"/page/paper/{paper['id']}"
    assert headers["Vary"] == "Accept"
    status, headers, body = fetch(server.url + iri_path, accept=browser)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    import html

    assert f"<h1>{html.escape(paper['title'])}</h1>" in body.decode()
    assert "default-src 'none'" in headers["Content-Security-Policy"]

    status, headers, _ = fetch(server.url + iri_path, accept="text/turtle", follow=False)
    assert status == 303 and headers["Location"] == f"/data/paper/{paper['id']}.ttl"
    status, headers, body = fetch(server.url + iri_path, accept="text/turtle")
    assert status == 200 and headers["Content-Type"].startswith("text/turtle")
    graph = rdflib.Graph().parse(data=body, format="turtle")
    subject = rdflib.URIRef(BASE + iri_path[3:])
    assert (
        str(graph.value(subject, rdflib.URIRef("http://purl.org/dc/terms/title"))) == paper["title"]
    )
    # its evidence (mention nodes with their sentences) comes with it
    sentences = list(
        graph.objects(None, rdflib.URIRef("https://w3id.org/kgraph/ontology#sentence"))
    )
    assert sentences

    status, headers, body = fetch(server.url + iri_path, accept="application/ld+json")
    assert status == 200 and headers["Content-Type"].startswith("application/ld+json")
    assert set(rdflib.Graph().parse(data=body, format="json-ld")) == set(graph)
    # the data document negotiates too, and says so
    status, headers, body = fetch(server.url + f"data/paper/{paper['id']}", accept="text/turtle")
    assert status == 200 and headers["Vary"] == "Accept"
    # the IRI's own path under the base works as well
    status, _, _ = fetch(
        server.url + f"kgraph/id/paper/{paper['id']}", accept="text/turtle", follow=False
    )
    assert status == 303


def test_linked_data_entity_page_and_404(server: KgraphServer) -> None:
    status, _, body = fetch(server.url + "page/entity/dataset/imagenet")
    text = body.decode()
    assert status == 200 and "<h1>ImageNet</h1>" in text
    assert "Evidence (" in text and "<mark>ImageNet</mark>" in text
    status, _, body = fetch(server.url + "id/entity/dataset/no-such-thing", accept="text/turtle")
    assert status == 404 and body.startswith(b"not found:")
    status, _, _ = fetch(server.url + "page/entity/dataset/no-such-thing")
    assert status == 404


def test_base_on_the_server_itself(tmp_path: Path) -> None:
    folder = _copy(HOSTILE, tmp_path / "hostile")
    port = _free_port()
    base = f"http://127.0.0.1:{port}/id/"
    server = open_bundle_server(folder, port=port, base=base, timeout=TIMEOUT, workers=1)
    with _run(server):
        # the data IRIs are this server's URLs: dereferencing one gives its description
        status, _, body = fetch(f"{base}paper/2501.00001", accept="text/turtle")
        assert status == 200
        graph = rdflib.Graph().parse(data=body, format="turtle")
        subject = rdflib.URIRef(f"{base}paper/2501.00001")
        assert (
            subject,
            rdflib.RDF.type,
            rdflib.URIRef("https://schema.org/ScholarlyArticle"),
        ) in graph
        status, _, body = fetch(f"{base}entity/dataset/imagenet", accept="text/html")
        assert status == 200 and b'href="/page/paper/2501.00001"' in body
    # the bundle's own store keeps its base; the private one is gone
    assert "127.0.0.1" not in (folder / "store" / "kgraph-store.json").read_text()


def test_hostile_text_is_escaped(hostile: KgraphServer) -> None:
    status, headers, body = fetch(hostile.url + "id/paper/2501.00001", accept="text/html")
    text = body.decode()
    assert status == 200
    assert "<script>" not in text and "<img" not in text and "<b>bold" not in text
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; &amp; &quot;Quoted&quot;" in text
    assert "&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src" not in headers["Content-Security-Policy"]
    # the same text through SPARQL results as HTML, and in the XML results format
    query = PREFIXES + "SELECT ?t WHERE { ?p dcterms:title ?t }"
    status, _, body = fetch(
        hostile.url + "sparql?query=" + urllib.parse.quote(query), accept="text/html"
    )
    assert status == 200 and b"<script>" not in body and b"&lt;script&gt;" in body
    doc = sparql(hostile, query, XML).queryAndConvert()
    titles = {n.firstChild.nodeValue for n in doc.getElementsByTagName("literal")}  # type: ignore[union-attr]
    assert (
        "<script>alert('title')</script> & \"Quoted\" Transformers: ImageNet <b>bold</b>" in titles
    )


def test_explorer_at_root(hostile: KgraphServer, server: KgraphServer) -> None:
    status, headers, body = fetch(hostile.url)
    assert (status, body) == (200, b"<!DOCTYPE html><title>explorer of hostile</title>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    status, headers, body = fetch(server.url, method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    status, headers, body = fetch(server.url)
    assert status == 200 and body[:15].lower() == b"<!doctype html>"
    assert "script-src 'unsafe-inline'" in headers["Content-Security-Policy"]
    assert "connect-src 'self'" in headers["Content-Security-Policy"]


# --- the command ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_until_ctrl_c(seeds_dir: Path, server: KgraphServer) -> None:
    port = _free_port()
    # A job started in the background by a shell without job control (`cmd &` in a script)
    # has Ctrl-C ignored, and the server would inherit that: start it as a terminal would.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kgraph", "serve", str(seeds_dir), "--port", str(port)],
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"at http://127.0.0.1:{port}/" in line, line
        client = SPARQLWrapper(f"http://127.0.0.1:{port}/sparql")
        client.setQuery(COUNT_PAPERS)
        client.setReturnFormat(JSON)
        assert client.queryAndConvert()["results"]["bindings"][0]["n"]["value"] == "314"  # type: ignore[index]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # nothing listens on the port any more
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_cli_errors_are_one_line(tmp_path: Path, seeds_dir: Path, server: KgraphServer) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "kgraph", "serve", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    port = server.server_address[1]
    with pytest.raises(ServeError, match=f"cannot serve on 127.0.0.1:{port}: "):
        open_bundle_server(seeds_dir, port=port)


# --- negotiation and result formats (no server) -----------------------------------------------


def test_negotiation() -> None:
    assert choose("results", None).name == "json"
    assert choose("results", "text/csv").name == "csv"
    assert choose("results", "application/sparql-results+xml,application/rdf+xml,*/*").name == "xml"
    assert choose("results", "text/csv;q=0.5, text/tab-separated-values").name == "tsv"
    assert choose("results", "*/*").name == "json"  # a wildcard never picks HTML
    assert choose("results", "text/html,*/*;q=0.8").name == "html"
    assert choose("results", "text/html", ["json", "application/json"]).name == "json"
    assert choose("results", None, ["tsv", "text/tab-separated-values"]).name == "tsv"
    assert choose("graph", "application/ld+json").name == "jsonld"
    assert choose("graph", None, ["xml"]).name == "rdfxml"
    assert choose("graph", "image/png").name == "turtle"
    assert choose("graph", "text/html", allow_html=False).name == "turtle"


def test_result_formats_quote_what_they_must() -> None:
    import pyoxigraph as ox

    row = [ox.Literal('a,"b"\tc\nd'), ox.NamedNode("http://e.org/x"), None]
    variables = ["lit", "iri", "unbound"]
    table = list(csv.reader(io.StringIO(rows_bytes(variables, [row], "csv").decode(), newline="")))
    assert table == [variables, ['a,"b"\tc\nd', "http://e.org/x", ""]]
    tsv = rows_bytes(variables, [row], "tsv").decode().split("\n")
    assert tsv[1].split("\t") == ['"a,\\"b\\"\\tc\\nd"', "<http://e.org/x>", ""]
    doc = json.loads(rows_bytes(variables, [row], "json"))
    assert doc["results"]["bindings"] == [
        {
            "lit": {"type": "literal", "value": 'a,"b"\tc\nd'},
            "iri": {"type": "uri", "value": "http://e.org/x"},
        }
    ]
    xml = rows_bytes(["x"], [[ox.Literal("<&>", language="en")]], "xml").decode()
    assert '<literal xml:lang="en">&lt;&amp;&gt;</literal>' in xml
    assert boolean_bytes(True, "json") == b'{"head": {}, "boolean": true}'
