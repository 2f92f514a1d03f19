"""The Turtle writer (kgraph.rdf.turtle): Turtle made from N-Triples statements as they stream
by, in the build's store pass and in `kgraph export --format ttl`."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pyoxigraph as ox
import pytest
from fixtures.rdf.helpers import fixture_graph
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kgraph.bundle import build
from kgraph.exporters import DEFAULT_BASE
from kgraph.rdf.convert import _write_oxigraph, iter_statements, serialize
from kgraph.rdf.namespaces import prefixes
from kgraph.rdf.turtle import TurtleWriter, write_turtle

ROOT = Path(__file__).resolve().parent.parent
SPACES = prefixes(DEFAULT_BASE)
XSD = "http://www.w3.org/2001/XMLSchema#"
ABSTRACT = ox.NamedNode("http://purl.org/dc/terms/abstract")


def turtle_of(statements: list[str]) -> bytes:
    out = io.BytesIO()
    write_turtle(statements, out, SPACES)
    return out.getvalue()


def triples_nt(statements: list[str]) -> set[ox.Triple]:
    text = "".join(f"{s} .\n" for s in statements).encode()
    return {q.triple for q in ox.parse(text, ox.RdfFormat.N_TRIPLES)}


def triples_ttl(data: bytes) -> set[ox.Triple]:
    return {q.triple for q in ox.parse(data, ox.RdfFormat.TURTLE)}


def test_same_triples_as_pyoxigraphs_serialiser_on_the_fixture() -> None:
    g = fixture_graph()
    ours, theirs = io.BytesIO(), io.BytesIO()
    serialize(g, "ttl", ours)
    _write_oxigraph(g, DEFAULT_BASE, "ttl", theirs)
    assert triples_ttl(ours.getvalue()) == triples_ttl(theirs.getvalue())
    union = [spo for _, spo in iter_statements(g, union=True)]
    assert len(triples_ttl(ours.getvalue())) == len(union)


def test_shapes_of_the_output() -> None:
    paper = f"<{DEFAULT_BASE}paper/2401.00001>"
    result = f"<{DEFAULT_BASE}result/2401.00001/1>"
    kg = "https://w3id.org/kgraph/ontology#"
    statements = [
        f"{paper} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://schema.org/ScholarlyArticle>",
        f'{paper} <http://purl.org/dc/terms/title> "A \\"quoted\\" title"',
        f"{paper} <{kg}usesMethod> <{DEFAULT_BASE}entity/method/bert>",
        f"{paper} <{kg}usesMethod> <{DEFAULT_BASE}entity/method/gpt-4>",
        f'{result} <{kg}value> "91.5"^^<{XSD}decimal>',
        f'{result} <{kg}rank> "3"^^<{XSD}integer>',
        f'{result} <{kg}day> "2024-01-02"^^<{XSD}date>',
        f'{result} <{kg}odd> "1e3"^^<{XSD}integer>',
        f"{result} <{kg}link> <https://example.org/a>",
        f"{result} <{kg}link> <{DEFAULT_BASE}paper/.x~y>",
    ]
    text = turtle_of(statements).decode()
    body = text.split("\n", len(SPACES))[-1]
    assert body.startswith("paper:2401.00001 a schema:ScholarlyArticle ;\n\t")
    assert "kg:usesMethod method:bert , method:gpt-4 .\n" in body  # one predicate, two objects
    assert "result:2401.00001\\/1 kg:value 91.5 ;" in body  # "/" escaped in a local name
    assert "kg:rank 3 ;" in body and 'kg:day "2024-01-02"^^xsd:date' in body
    assert '"1e3"^^xsd:integer' in body  # not a valid integer form: kept quoted
    # no prefix, or not a valid local name: written in full
    assert f"kg:link <https://example.org/a> , <{DEFAULT_BASE}paper/.x~y> .\n" in body
    assert triples_ttl(text.encode()) == triples_nt(statements)


_local = st.lists(
    st.sampled_from([*"abcXYZ019_-.:/%~!$&'()*+,;=?#@é", "%41", "%zz"]), max_size=12
).map("".join)
_literal = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20)


def _nt_string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


@st.composite
def statements(draw: st.DrawFn) -> list[str]:
    namespaces = [*SPACES.values(), "https://example.org/other/"]
    out = []
    for _ in range(draw(st.integers(1, 8))):
        s = draw(st.sampled_from(namespaces)) + draw(_local)
        p = draw(st.sampled_from(namespaces)) + draw(_local)
        kind = draw(st.sampled_from(["iri", "plain", "lang", "typed"]))
        if kind == "iri":
            o = "<" + draw(st.sampled_from(namespaces)) + draw(_local) + ">"
        elif kind == "plain":
            o = _nt_string(draw(_literal))
        elif kind == "lang":
            o = _nt_string(draw(_literal)) + "@en"
        else:
            dt = draw(st.sampled_from(["integer", "decimal", "boolean", "date", "string"]))
            lexical = draw(st.sampled_from(["1", "-2", "+3", "0.5", ".5", "1.", "true", "x", ""]))
            o = f'"{lexical}"^^<{XSD}{dt}>'
        out.append(f"<{s}> <{p}> {o}")
        if draw(st.booleans()):  # runs of one subject, and of one predicate
            out.append(f"<{s}> <{p}> " + _nt_string(draw(_literal)))
    return out


def _valid_iri(term: str) -> bool:
    return not any(c in term for c in ' <>"{}|^`\\') and "%zz" not in term


@settings(max_examples=300, deadline=None)
@given(statements())
def test_any_statements_read_back_as_the_same_triples(stmts: list[str]) -> None:
    stmts = [s for s in stmts if all(_valid_iri(t) for t in s.split(" ", 2)[:2])]
    try:
        expected = triples_nt(stmts)
    except SyntaxError:  # not valid N-Triples to begin with (an IRI the generator spoiled)
        return
    assert triples_ttl(turtle_of(stmts)) == expected


@settings(max_examples=300, deadline=None)
@given(statements(), st.data())
@example(
    [f'<{DEFAULT_BASE}paper/a> <{DEFAULT_BASE}paper/p> "x\u2028y\x85z\u2029 \x1c\x0bw"'],
    None,
)
def test_nquads_chunks_give_what_the_statements_give(
    stmts: list[str], data: st.DataObject | None
) -> None:
    """The build's Turtle process reads N-Quads chunks (:meth:`TurtleWriter.add_quads`),
    cut anywhere between lines: same bytes as the statements one by one. Lines end only at
    the newline: a literal may hold U+2028, U+0085 and other characters that Python's
    ``str.splitlines`` also ends lines at (a build of an abstract holding one failed)."""
    lines = [f"{spo} <{DEFAULT_BASE}graph/g> .\n".encode() for spo in stmts]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(lines))))) if data is not None else []
    out = io.BytesIO()
    writer = TurtleWriter(out, SPACES)
    for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True):
        writer.add_quads(b"".join(lines[a:b]))
    writer.close()
    assert out.getvalue() == turtle_of(stmts)
    assert writer.count == len(stmts)


@pytest.mark.skipif(shutil.which("serdi") is None, reason="serdi missing")
def test_strict_parser_reads_the_escapes() -> None:
    paper = f"{DEFAULT_BASE}paper/"
    stmts = [
        f"<{paper}a/b:c.d-e> <{paper}p> <{paper}%41_x>",
        f'<{paper}_start> <{paper}p> "1."^^<{XSD}decimal>',
    ]
    data = turtle_of(stmts)
    proc = subprocess.run(
        ["serdi", "-i", "turtle", "-o", "ntriples", "-"], input=data, capture_output=True
    )
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    assert triples_nt(stmts) == {q.triple for q in ox.parse(proc.stdout, ox.RdfFormat.N_TRIPLES)}


def test_build_writes_the_same_turtle_as_export(tmp_path: Path) -> None:
    """graph.ttl is written in the build's store pass; `kgraph export --format ttl` writes
    it from the graph alone: the two files are byte-identical."""
    out = tmp_path / "b"
    build(out, [str(ROOT / "tests" / "fixtures" / "papers.jsonl")], nlp=None)
    from kgraph.bundle import load_graph

    _, graph = load_graph(out)
    exported = io.BytesIO()
    serialize(graph, "ttl", exported)
    assert (out / "graph.ttl").read_bytes() == exported.getvalue()


def test_build_of_an_abstract_with_line_separators(tmp_path: Path) -> None:
    """U+2028 and U+0085 in an abstract reach graph.ttl as they are (the build failed)."""
    abstract = "We propose FooNet.\u2028It reaches 90% accuracy on ImageNet.\x85 More."
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"title": "Line separators", "abstract": abstract}) + "\n")
    build(tmp_path / "b", [str(src)], nlp=None)
    graph = ox.Store()
    graph.load((tmp_path / "b" / "graph.ttl").read_bytes(), ox.RdfFormat.TURTLE)
    abstracts = [q.object.value for q in graph.quads_for_pattern(None, ABSTRACT, None)]
    assert abstracts == [abstract]


def test_turtle_process_writes_what_the_writer_writes(tmp_path: Path) -> None:
    """The build's graph.ttl comes from a child process fed N-Quads chunks: same bytes as the
    in-process writer, the hash and size it reports are the file's, and a failure is an
    error (not a half-written file passed off as done)."""
    import hashlib

    from kgraph.rdf.convert import nquads_chunks
    from kgraph.rdf.turtle import TurtleError, TurtleProcess

    g = fixture_graph()
    proc = TurtleProcess(tmp_path / "g.ttl", SPACES)
    for _, spo in iter_statements(g, union=True):
        proc.write(f"{spo} <{DEFAULT_BASE}graph/x> .\n".encode())
    info = proc.close()
    data = (tmp_path / "g.ttl").read_bytes()
    expected = io.BytesIO()
    serialize(g, "ttl", expected)
    assert data == expected.getvalue()
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["bytes"] == len(data)
    assert info["statements"] == len(list(iter_statements(g, union=True)))
    assert info["synced"] is True
    # the build syncs graph.ttl itself, aside (kgraph.bundle.Staging.sync_later)
    unsynced = TurtleProcess(tmp_path / "u.ttl", SPACES, sync=False)
    for _, spo in iter_statements(g, union=True):
        unsynced.write(f"{spo} <{DEFAULT_BASE}graph/x> .\n".encode())
    assert unsynced.close()["synced"] is False
    assert (tmp_path / "u.ttl").read_bytes() == data

    bad = TurtleProcess(tmp_path / "no" / "such" / "dir.ttl", SPACES)
    for chunk in nquads_chunks(g):
        bad.write(chunk)
    with pytest.raises(TurtleError, match=r"dir\.ttl: the Turtle writer failed"):
        bad.close()

    stopped = TurtleProcess(tmp_path / "s.ttl", SPACES)
    stopped.write(b"<a:b> <a:c> <a:d> <a:g> .\n")
    stopped.abort()
    assert stopped._proc.returncode is not None


_LARGE_RESULT = """
import os, signal, sys
import kgraph.rdf.turtle as t
signal.signal(signal.SIGUSR1, lambda *_: None)
t._serve = lambda *_, **__: {"places": "A" * (1 << 23)}
os.write(1, b"ready\\n")
t._main(["out.ttl", "{}"])
"""


def test_the_writers_result_comes_back_whole_while_signals_interrupt_its_writes(
    tmp_path: Path,
) -> None:
    """The Turtle writer's child hands its result (the blocks' places: megabytes at scale) to
    the build over an unbuffered pipe. A signal coming while it writes (a profiler's, say)
    makes one write take part of the bytes: the child writes the rest (``print`` dropped
    them, and the build read a line cut at 64 KiB)."""
    import os
    import signal
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-c", _LARGE_RESULT],
        stdout=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    expected = json.dumps({"places": "A" * (1 << 23)}).encode() + b"\n"
    chunks, got = [], 0
    # read slowly, signalling the child between reads, while more than the pipe holds is to
    # come: the child is still writing then (its handler goes when its interpreter ends, and
    # a signal would kill it)
    while len(expected) - got > 1 << 17:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGUSR1)
        chunk = proc.stdout.read1(1 << 14)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        time.sleep(0.0002)
    chunks.append(proc.stdout.read())
    assert proc.wait() == 0
    assert b"".join(chunks) == expected
