"""An add that makes only the changed papers' RDF (kgraph.rdf.paper_units): the Turtle
writer's blocks and copies, the plan, and the grown bundle against one built in one go."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import orjson
import pyoxigraph as ox
import pytest
from _seed import PAGES, figures, seed_bundle
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.bundle import load_graph
from kgraph.cli import cli
from kgraph.rdf.delta import UnitIndex
from kgraph.rdf.paper_units import (
    BlockUnits,
    Keyed,
    PartnerBlocks,
    block_digests,
    is_node_block,
    line_digest,
    node_key,
    plan_reuse,
)
from kgraph.rdf.turtle import TAIL_MARK, UNIT_MARK, TurtleWriter

SPACES = {"ex": "http://example.org/"}
BASE = "https://w3id.org/kgraph/id/"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


# --- the Turtle writer's blocks --------------------------------------------------------------

_iri = st.sampled_from([f"<http://example.org/{c}>" for c in "abcde"])
_object = st.one_of(
    _iri, st.sampled_from(['"x"', '"7"^^<http://www.w3.org/2001/XMLSchema#integer>'])
)
_statement = st.tuples(_iri, _iri, _object).map(lambda t: " ".join(t))
_blocks = st.lists(st.lists(_statement, min_size=1, max_size=6), max_size=8)


def _own(statement: str, tag: str) -> str:
    """``statement`` with its subject made one of ``tag``'s."""
    subject, rest = statement.split(" ", 1)
    return f"{subject[:-1]}/{tag}> {rest}"


def _quads(statements: list[str]) -> bytes:
    return b"".join(f"{s} <http://example.org/g> .\n".encode() for s in statements)


def _write(
    blocks: list[list[str]], tail: list[str], copies: dict[int, bytes], old: bytes
) -> TurtleWriter:
    out = io.BytesIO()
    writer = TurtleWriter(out, SPACES)
    chunk = b""
    for i, block in enumerate(blocks):
        chunk += copies[i] if i in copies else UNIT_MARK + _quads(block)
    if tail:
        chunk += TAIL_MARK + _quads(tail)
    writer.add_marked(chunk, io.BytesIO(old))
    writer.close()
    writer.out = out
    return writer


@settings(max_examples=200, deadline=None)
@given(_blocks, st.lists(_statement, max_size=4), st.data())
def test_blocks_copied_from_the_previous_file_give_the_same_turtle(
    blocks: list[list[str]], tail: list[str], data: st.DataObject
) -> None:
    # a paper's block never starts with the subject another one ends with (they are its own
    # IRIs): the subjects of each block are its own here too
    blocks = [[_own(s, f"b{i}") for s in block] for i, block in enumerate(blocks)]
    tail = [_own(s, "tail") for s in tail]
    first = _write(blocks, tail, {}, b"")
    whole = first.out.getvalue()  # type: ignore[attr-defined]
    assert len(first.places) == len(blocks)
    # without marks: the same bytes (the marks only end a statement where it ends anyway)
    plain = io.BytesIO()
    unmarked = TurtleWriter(plain, SPACES)
    unmarked.add_quads(_quads([s for b in blocks for s in b]) + _quads(tail))
    unmarked.close()
    assert plain.getvalue() == whole
    assert first.count == unmarked.count
    for (offset, length, n), block in zip(first.places, blocks, strict=True):
        text = whole[offset : offset + length]
        assert text.endswith(b" .\n")
        assert n == len(block)
    # any blocks copied: the same file, the same places and counts
    kept = data.draw(st.sets(st.integers(0, max(0, len(blocks) - 1))) if blocks else st.just(set()))
    copies = {i: b"#c %d %d %d\n" % first.places[i] for i in kept}
    again = _write(blocks, tail, copies, whole)
    assert again.out.getvalue() == whole  # type: ignore[attr-defined]
    assert again.places == first.places
    assert again.count == first.count


def test_blocks_next_to_each_other_in_the_previous_file_are_copied_at_once() -> None:
    blocks = [
        [_own('<http://example.org/a> <http://example.org/b> "x"', f"b{i}")] for i in range(5)
    ]
    first = _write(blocks, [], {}, b"")
    whole = first.out.getvalue()  # type: ignore[attr-defined]
    reads: list[int] = []

    class Counted(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            reads.append(n if n is not None else -1)
            return super().read(n)

    out = io.BytesIO()
    writer = TurtleWriter(out, SPACES)
    marks = [b"#c %d %d %d\n" % first.places[i] for i in (0, 1, 2)]  # one stretch
    chunk = b"".join(marks) + UNIT_MARK + _quads(blocks[3]) + b"#c %d %d %d\n" % first.places[4]
    writer.add_marked(chunk, Counted(whole))
    writer.close()
    assert out.getvalue() == whole
    assert writer.places == first.places
    assert len(reads) == 2  # blocks 0-2 at once, then block 4


def test_an_unknown_mark_is_refused() -> None:
    writer = TurtleWriter(io.BytesIO(), SPACES)
    with pytest.raises(ValueError, match="not a mark"):
        writer.add_marked(b"#x\n")


def test_a_copy_past_the_end_of_the_previous_file_or_without_one_is_refused() -> None:
    writer = TurtleWriter(io.BytesIO(), SPACES)
    with pytest.raises(ValueError, match="ends before byte 30"):
        writer.add_marked(b"#c 10 20 1\n", io.BytesIO(b"short"))
    with pytest.raises(ValueError, match="no previous Turtle"):
        writer.add_marked(b"#c 0 1 1\n")


# --- the plan -------------------------------------------------------------------------------


def test_the_plan_keeps_the_papers_and_entities_whose_digest_is_the_same() -> None:
    _, graph = load_graph(seed_bundle())
    digests = block_digests(graph)
    nodes = sorted(digests)
    papers = [n for n in nodes if n.startswith("paper:")]
    entities = [n for n in nodes if n.startswith("entity:")]
    assert len(papers) == 314 and len(entities) + len(papers) == len(nodes)
    places = [(i * 10, 10, 1) for i in range(len(nodes))]
    units = BlockUnits.make(nodes, digests, places, "sha")
    units = BlockUnits.load(units.dump())
    changed = {nodes[5], papers[5]}
    digests = {**digests, **{n: digests[n] ^ 1 for n in changed}, "paper:new": 7, "entity:x/y": 8}
    reuse, why = plan_reuse(digests, units, Path("graph.ttl"))
    assert reuse is not None and why == ""
    kept = set(nodes) - changed
    assert {n for n in digests if n in reuse.keep} == kept
    assert reuse.papers_kept == len(papers) - 1 and reuse.kept == len(kept)
    assert sorted(reuse.kept_keys.tolist()) == sorted(node_key(n) for n in kept)
    # the kept blocks come in stretches (here and in the units, the papers sorted: the
    # first five papers, then from the seventh): a mark for the first block of each, that
    # spans it, and the others copied with it
    heads, inside = set(reuse.copies), set(reuse.inside)
    assert heads | inside == kept and not heads & inside and len(reuse.copies) == len(heads)
    first = nodes.index(papers[0])
    assert reuse.copies[papers[0]] == b"#c %d 50 5\n" % (first * 10)
    assert set(papers[1:5]) <= inside and papers[6] in heads
    assert reuse.inside_papers == len(inside & set(papers)) and len(heads) < len(kept) / 10
    assert reuse.keyed is not None and reuse.stretches == len(heads)
    assert reuse.keyed.ends[reuse.keyed.nodes.index(papers[0])] == first + 4
    # the nodes with a block of their own in the new file: papers (sorted), then entities
    order = [
        *sorted(n for n in digests if n.startswith("paper:")),
        *(n for n in digests if n.startswith("entity:")),
    ]
    assert reuse.keyed is not None and reuse.keyed.nodes == [n for n in order if n not in inside]
    assert nodes[5] not in reuse.copies
    # what the process that loads the store is handed: the kept blocks' keys only
    spent = reuse.spent()
    assert (spent.kept, spent.papers_kept) == (reuse.kept, reuse.papers_kept)
    assert nodes[0] not in spent.keep and not spent.copies
    # most papers changed: everything is made again (the entities do not count)
    many = {p: d ^ (p in papers[: len(papers) // 3 + 1]) for p, d in digests.items()}
    assert plan_reuse(many, units, Path("graph.ttl")) == (
        None,
        # the first 105 papers flipped, of which papers[5] back to its digest; paper:new
        f"{len(papers) // 3 + 1:,} of {len(papers) + 1:,} papers changed (more than 30%)",
    )
    # units of other code
    units.code = "other"
    assert plan_reuse(digests, units, Path("graph.ttl")) == (
        None,
        "the code that makes the RDF changed",
    )


def test_a_paper_whose_evaluated_on_pair_loses_its_earlier_giver_changes() -> None:
    # the union leaves a pair out of every block but the first paper's that gives it: when
    # that paper stops giving it, the next one's block gets it, although its lines are the same
    _, graph = load_graph(seed_bundle())
    u, v, key, data = next(
        (u, v, k, d)
        for u, v, k, d in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3])
        if d.get("relation") == "evaluated_on"
    )
    first = data["paper"]
    second = max(n for n, kind in graph.nodes(data="kind") if kind == "paper")
    assert first < second
    graph.add_edge(u, v, key=f"evaluated_on:{second[6:]}", **{**data, "paper": second})
    before = block_digests(graph)
    graph.remove_edge(u, v, key=key)
    after = block_digests(graph)
    assert after[second] != before[second]
    assert {p for p in before if before[p] != after[p]} == {first, second}


def test_a_digest_follows_its_own_part_of_the_graph_only() -> None:
    _, graph = load_graph(seed_bundle())
    before = block_digests(graph)

    def changed() -> set[str]:
        after = block_digests(graph)
        assert after.keys() == before.keys()
        return {n for n in before if before[n] != after[n]}

    paper = next(
        n for n, d in graph.nodes(data=True) if d.get("kind") == "paper" and graph.out_degree(n)
    )
    target = next(iter(graph.successors(paper)))
    graph.nodes[target]["name"] = "renamed"  # an entity's attribute: its block, not the paper's
    assert changed() == {target}
    graph.nodes[paper]["title"] = "changed"
    assert changed() == {target, paper}
    graph.nodes[paper]["title"] = graph.nodes[target]["name"] = "x"
    before = block_digests(graph)
    # a co_occurs edge: the blocks of both its entities (their pairs and short lists)
    u, v, k = next(
        (u, v, k) for u, v, k, r in graph.edges(keys=True, data="relation") if r == "co_occurs"
    )
    graph.edges[u, v, k]["count"] += 1
    assert changed() == {u, v}
    graph.edges[u, v, k]["count"] -= 1
    # an entity's papers: its block, and those of the entities whose usage rank it moves
    top = min(
        (n for n, kind in graph.nodes(data="kind") if kind == "entity"),
        key=lambda n: (-graph.nodes[n]["papers"], n),
    )
    last = max(
        (n for n, d in graph.nodes(data=True) if d.get("type") == graph.nodes[top]["type"]),
        key=lambda n: (-graph.nodes[n]["papers"], n),
    )
    graph.nodes[last]["papers"] = graph.nodes[top]["papers"] + 1  # first now: all move down
    moved = changed()
    assert last in moved and top in moved
    assert all(graph.nodes[n]["kind"] == "entity" for n in moved)


_B_LIST = ["https://x/b/co-occurrence/c", "https://x/b/co-occurrence/d"]
_E_LIST = "https://x/e/co-occurrence/b"


def _previous_units() -> BlockUnits:
    """Units of a file of a paper, an entity b with a short list of two nodes, and an entity
    e with one (its count 3)."""
    nodes = ["paper:a", "entity:b", *_B_LIST, "entity:e", _E_LIST]
    places = [(100, 10, 1), (110, 20, 2), (130, 5, 4), (135, 6, 4), (141, 7, 1), (148, 5, 4)]
    digests = {n: i + 1 for i, n in enumerate(nodes)} | {_E_LIST: line_digest(b"3")}
    units = BlockUnits.load(BlockUnits.make(nodes, digests, places, "old").dump())
    assert units.children.tolist() == [0, 2, 0, 0, 1, 0]
    return units


def test_block_units_of_an_add_take_a_kept_entitys_short_list_from_the_previous_units() -> None:
    """A kept entity's block was copied with its short list, as one place: its rows and its
    list's come from the previous units, moved to where the block is now; the units are
    those of a file made in one go with the same blocks."""
    previous = _previous_units()
    order = ["paper:new", "paper:a", "entity:b", "entity:e", "https://x/e/co-occurrence/z"]
    places = [(100, 3, 1), (103, 12, 1), (115, 31, 10), (146, 7, 1), (153, 5, 4)]
    now = {"paper:new": 9, "paper:a": 10, "entity:b": 2, "entity:e": 11, order[-1]: 12}
    units = BlockUnits.make(order, now, places, "new", previous=previous, kept={"entity:b": 1})
    every = ["paper:new", "paper:a", "entity:b", *_B_LIST, "entity:e", order[-1]]
    assert units.key.tolist() == [node_key(n) for n in every]
    assert units.digest.tolist() == [9, 10, 2, 3, 4, 11, 12]
    assert units.offset.tolist() == [100, 103, 115, 135, 140, 146, 153]
    assert units.length.tolist() == [3, 12, 20, 5, 6, 7, 5]
    assert units.statements.tolist() == [1, 1, 2, 4, 4, 1, 4]
    assert units.children.tolist() == [0, 0, 2, 0, 0, 1, 0]
    each = [(100, 3, 1), (103, 12, 1), (115, 20, 2), (135, 5, 4), (140, 6, 4), *places[3:]]
    one_go = BlockUnits.make(every, now | {_B_LIST[0]: 3, _B_LIST[1]: 4}, each, "new")
    assert one_go.dump() == units.dump()
    length, statements = units.spans()
    assert (length.tolist(), statements.tolist()) == (
        [3, 12, 31, 5, 6, 12, 5],
        [1, 1, 10, 4, 4, 5, 4],
    )
    # a kept block whose place is not its block and list as they were is refused
    with pytest.raises(ValueError, match="place differs"):
        BlockUnits.make(
            order,
            now,
            [*places[:2], (115, 30, 10), *places[3:]],
            "new",
            None,
            previous,
            {"entity:b": 1},
        )


def test_kept_blocks_that_follow_each_other_are_copied_as_one_stretch() -> None:
    """Kept blocks of one kind that follow each other in the new file and in the previous
    one are copied at once: one mark for the first, spanning the others and their lists;
    the others have no block of their own. The units then made (from the plan's nodes, or
    from the kept blocks' rows and ends) are those of a file made in one go."""
    previous = _previous_units()
    digests = {"paper:a": 1, "entity:b": 2, "entity:e": 5, "entity:new": 9}
    reuse, why = plan_reuse(digests, previous, Path("graph.ttl"))
    assert reuse is not None and why == ""
    # paper:a and entity:b are of two kinds: two stretches; entity:e goes with entity:b
    assert dict(reuse.copies) == {"paper:a": b"#c 100 10 1\n", "entity:b": b"#c 110 43 15\n"}
    assert reuse.inside == frozenset({"entity:e"}) and reuse.inside_papers == 0
    assert reuse.stretches == 2
    assert reuse.kept == 3 and sorted(reuse.kept_keys.tolist()) == sorted(
        node_key(n) for n in ["paper:a", "entity:b", *_B_LIST, "entity:e", _E_LIST]
    )
    assert reuse.keyed is not None
    assert reuse.keyed.nodes == ["paper:a", "entity:b", "entity:new"]
    assert reuse.keyed.rows.tolist() == [0, 1, -1] and reuse.keyed.ends.tolist() == [0, 5, -1]
    # the new file: the two copies, then entity:new made
    blocks, places = reuse.keyed.nodes, [(100, 10, 1), (110, 43, 15), (153, 4, 1)]
    planned = BlockUnits.make(blocks, digests, places, "new", reuse.keyed, previous)
    # by node: from mappings, or from a plan whose nodes are not the blocks' (its keys then
    # not taken; here, the same nodes given in another order)
    looked_up = BlockUnits.make(
        blocks, digests, places, "new", None, previous, dict(reuse.keep), {"entity:b": 5}
    )
    other = Keyed(*(column[::-1] for column in reuse.keyed))
    by_node = BlockUnits.make(blocks, digests, places, "new", other, previous)
    every = ["paper:a", "entity:b", *_B_LIST, "entity:e", _E_LIST, "entity:new"]
    each = [(100, 10, 1), (110, 20, 2), (130, 5, 4), (135, 6, 4), (141, 7, 1), (148, 5, 4)]
    each += [(153, 4, 1)]
    lists = {_B_LIST[0]: 3, _B_LIST[1]: 4, _E_LIST: line_digest(b"3")}
    one_go = BlockUnits.make(every, digests | lists, each, "new")
    assert planned.dump() == one_go.dump() == looked_up.dump() == by_node.dump()
    # a stretch whose place is not the blocks it spans is refused
    with pytest.raises(ValueError, match="place differs"):
        BlockUnits.make(
            blocks, digests, [places[0], (110, 42, 15), places[2]], "new", reuse.keyed, previous
        )
    # blocks apart in the previous file (another block between them) are two stretches
    digests = {"paper:a": 1, "entity:e": 5}
    reuse, _ = plan_reuse(digests, previous, Path("graph.ttl"))
    assert reuse is not None and set(reuse.copies) == {"paper:a", "entity:e"} and not reuse.inside


def test_an_add_keeps_a_kept_entitys_list_and_the_unchanged_nodes_of_a_changed_ones() -> None:
    """The plan keeps a kept entity's short list with it (its keys for the store, one mark
    for its block and list); of an entity whose block changed, :class:`PartnerBlocks`
    keeps each node of its list whose count is the same (and records every digest)."""
    previous = _previous_units()
    digests = {"paper:a": 1, "entity:b": 2, "entity:e": 99, "entity:new": 5}
    reuse, why = plan_reuse(digests, previous, Path("graph.ttl"))
    assert reuse is not None and why == ""
    assert dict(reuse.keep) == {"paper:a": 0, "entity:b": 1}
    assert reuse.kept == 2 and reuse.papers_kept == 1
    assert sorted(reuse.kept_keys.tolist()) == sorted(
        node_key(n) for n in ["paper:a", "entity:b", *_B_LIST]
    )
    assert reuse.copies["entity:b"] == b"#c 110 31 10\n"  # (the block and its list)
    assert dict(reuse.changed_rows) == {"entity:e": 4}
    lists = PartnerBlocks(reuse)
    assert not lists.kept("entity:e", _E_LIST, 4)  # (another count)
    assert lists.kept("entity:e", _E_LIST, 3)
    assert not lists.kept("entity:e", "https://x/e/co-occurrence/new", 2)
    assert not lists.kept("entity:new", "https://x/new/co-occurrence/b", 3)
    assert reuse.copies[_E_LIST] == b"#c 148 5 4\n" and _E_LIST in reuse.copies
    assert lists.kept_keys == [node_key(_E_LIST)]
    assert lists.digests[_E_LIST] == line_digest(b"3")
    assert len(lists.digests) == 3
    # what the store's update is handed
    spent = reuse.spent(lists.kept_keys)
    assert node_key(_E_LIST) in spent.kept_keys.tolist() and not spent.keep
    assert len(spent.kept_keys) == len(reuse.kept_keys) + 1 and spent.kept == 2
    # a build that makes every block keeps none, and records the digests
    fresh = PartnerBlocks()
    assert not fresh.kept("entity:e", _E_LIST, 3) and fresh.digests == {_E_LIST: line_digest(b"3")}


def test_block_units_take_the_keys_made_for_the_same_nodes() -> None:
    """An add's plan made every node's key (:func:`node_key`, a hash each: 0.4 s at 177k):
    the units file takes them when its blocks are those nodes, in that order, and makes its
    own otherwise."""
    nodes = ["paper:a", "entity:b"]
    places = [(10, 5, 1), (15, 7, 2)]
    digests = {"paper:a": 1, "entity:b": 2}
    given = np.array([7, 9], dtype=np.uint64)  # (not their keys: to see them taken)
    units = BlockUnits.make(nodes, digests, places, "sha", (list(nodes), given))
    assert units.key.tolist() == [7, 9]
    made = BlockUnits.make(nodes, digests, places, "sha", (nodes[::-1], given))
    assert made.key.tolist() == [node_key(n) for n in nodes]
    assert BlockUnits.make(nodes, digests, places, "sha").key.tolist() == made.key.tolist()


def test_units_files_damaged_or_of_another_version_are_refused() -> None:
    with pytest.raises(ValueError, match="damaged"):
        BlockUnits.load(b"not a zip")
    units = BlockUnits.make(["paper:a"], {"paper:a": 1}, [(0, 3, 1)], "sha")
    data = units.dump()
    assert BlockUnits.load(data).ttl_sha256 == "sha"
    with np.load(io.BytesIO(data)) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["meta"] = np.frombuffer(
        orjson.dumps({**orjson.loads(arrays["meta"].tobytes()), "version": 0}), dtype=np.uint8
    )
    other = io.BytesIO()
    np.savez(other, **arrays)
    with pytest.raises(ValueError, match="not a units file of this version"):
        BlockUnits.load(other.getvalue())
    with pytest.raises(ValueError, match="1 nodes, 0 Turtle blocks"):
        BlockUnits.make(["paper:a"], {"paper:a": 1}, [], "sha")


def test_merging_unit_indexes_takes_every_unit_of_the_kept_blocks() -> None:
    from kgraph.rdf.delta import key_hash

    def h(text: str) -> int:
        return int.from_bytes(key_hash(text), "little")

    def index(units: dict[str, str]) -> UnitIndex:
        """Unit key -> the node of its block ("" for none)."""
        keys = list(units)
        hashes = np.array([h(k) for k in keys], dtype=np.uint64)
        order = np.argsort(hashes)
        texts = [keys[i].encode() for i in order]
        lengths = np.array([len(t) for t in texts], dtype=np.uint64)
        offsets = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.uint64)
        blocks = np.array([h(units[keys[i]]) if units[keys[i]] else 0 for i in order], np.uint64)
        return UnitIndex(
            hashes[order], hashes[order] + 1, offsets, lengths, b"\n".join(texts) + b"\n", blocks
        )

    old = index(
        {
            "g <a>": "paper:a",
            "g <b>": "paper:b",
            "s <e>": "entity:e",
            "c <e>": "entity:e",
            "s <e/co-occurrence/f>": "entity:e",
            "s <r>": "",
        }
    )
    new = index({"g <b>": "paper:b", "s <r>": ""})
    kept = np.array([h("paper:a"), h("entity:e")], dtype=np.uint64)
    merged = new.merged_blocks(old, kept)
    assert sorted(merged.unit(i) for i in range(len(merged))) == [
        ("c", "e"),
        ("g", "a"),
        ("g", "b"),
        ("s", "e"),
        ("s", "e/co-occurrence/f"),
        ("s", "r"),
    ]
    # (the made units are the old ones here: the merged index is the old index)
    assert merged.key.tolist() == old.key.tolist()
    assert merged.block.tolist() == old.block.tolist()  # type: ignore[union-attr]
    assert merged.text == old.text
    with pytest.raises(ValueError, match="lacks the units of 1 kept blocks"):
        new.merged_blocks(old, np.array([h("paper:zz")], dtype=np.uint64))
    with pytest.raises(ValueError, match="also made again"):
        new.merged_blocks(old, np.array([h("paper:b")], dtype=np.uint64))


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdé <>/", min_size=1, max_size=12), st.sampled_from(["x", "y", "z"]), max_size=30
    ),
    st.data(),
)
def test_a_merged_unit_index_is_the_index_of_all_its_units(
    units: dict[str, str], data: st.DataObject
) -> None:
    """Merging copies the units' key texts a run at a time (units next to each other in the
    index they come from): the index it gives is the one made from all the units at once,
    whichever units each side has and whatever separates them."""
    from kgraph.rdf.delta import key_hash

    def index(keys: list[str], *, gaps: bool = False) -> UnitIndex:
        hashes = np.array([int.from_bytes(key_hash(k), "little") for k in keys], dtype=np.uint64)
        order = np.argsort(hashes)
        texts = [f"s <{keys[i]}>".encode() for i in order]
        lengths = np.array([len(t) for t in texts], dtype=np.uint64)
        # (with gaps: unused bytes between the texts, which a run must not copy)
        pad = [data.draw(st.integers(0, 2)) if gaps else 0 for _ in texts]
        text = b"".join(t + b"\n" + b"#" * g for t, g in zip(texts, pad, strict=True))
        ends = np.cumsum(lengths + 1 + np.array(pad, dtype=np.uint64))
        offsets = np.concatenate(([0], ends))[: len(texts)].astype(np.uint64)
        blocks = np.array([ord(units[keys[i]]) for i in order], dtype=np.uint64)
        return UnitIndex(hashes[order], hashes[order] * 3, offsets, lengths, text, blocks)

    keys = list(units)
    made = [k for k in keys if data.draw(st.booleans())]
    old = index([k for k in keys if k not in made], gaps=data.draw(st.booleans()))
    kept = np.unique(old.block)
    merged = index(made).merged_blocks(old, kept)  # (made by from_runs: no gaps)
    whole = index([k for k in keys if k in made or units[k] in {chr(b) for b in kept}])
    assert merged.key.tolist() == whole.key.tolist()
    assert merged.digest.tolist() == whole.digest.tolist()
    assert merged.block.tolist() == whole.block.tolist()  # type: ignore[union-attr]
    assert merged.text_offset.tolist() == whole.text_offset.tolist()
    assert merged.text_length.tolist() == whole.text_length.tolist()
    assert merged.text == whole.text
    assert [merged.unit(i) for i in range(len(merged))] == [
        whole.unit(i) for i in range(len(whole))
    ]


# --- the add, end to end ----------------------------------------------------------------------


def _quads_of(folder: Path) -> list[str]:
    store = ox.Store.read_only(str(folder / "store"))
    return sorted(str(q) for q in store)


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("units") / "grown"
    code, err = invoke("-v", "build", *PAGES[:3], "-o", str(folder))
    assert code == 0, err
    assert "rdf: every paper's statements made (a new bundle)" in err
    code, err = invoke("-v", "build", *PAGES, "-o", str(folder))
    assert code == 0, err
    return folder, err


def test_an_add_makes_the_changed_papers_rdf_only_and_gives_the_bundle_built_in_one_go(
    grown: tuple[Path, str],
) -> None:
    folder, err = grown
    n_made, n_all, e_made, e_all = figures(
        r"rdf: the statements of ([\d,]+) of ([\d,]+) papers "
        r"and ([\d,]+) of ([\d,]+) entities made",
        err,
    )
    assert 0 < n_made < n_all == 314
    # (almost every entity of so few papers is ranked, and an add moves most ranks)
    assert 0 < e_made < e_all
    # of the lists of the entities made, the nodes whose count is the same were kept
    l_made, l_all = figures(r"\(([\d,]+) of the ([\d,]+) nodes of their short lists\)", err)
    assert 0 < l_made < l_all
    # the kept blocks are copied in stretches of blocks that follow each other
    (stretches,) = figures(r"; ([\d,]+) stretches\)", err)
    assert 0 < stretches < (n_all - n_made) + (e_all - e_made)
    assert "store: updated in place" in err
    one_go = seed_bundle()
    for name in ("graph.ttl", "graph.units.npz", "graph.json", "graph.html"):
        assert (folder / name).read_bytes() == (one_go / name).read_bytes(), name
    assert _quads_of(folder) == _quads_of(one_go)
    a = json.loads((folder / "store" / "kgraph-store.json").read_text())
    b = json.loads((one_go / "store" / "kgraph-store.json").read_text())
    assert {k: a[k] for k in ("quads", "triples", "graphs", "units")} == {
        k: b[k] for k in ("quads", "triples", "graphs", "units")
    }
    assert a["update"]["papers_kept"] == n_all - n_made
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "graph.units.npz" in manifest["files"]


def _grown_again(grown: tuple[Path, str], tmp_path: Path, spoil: str) -> str:
    """The three pages' bundle, spoiled so, then the fourth page added: -v's rdf line."""
    folder = tmp_path / "b"
    code, err = invoke("build", *PAGES[:3], "-o", str(folder))
    assert code == 0, err
    if spoil == "units":
        (folder / "graph.units.npz").unlink()
        manifest = json.loads((folder / "manifest.json").read_text())
        del manifest["files"]["graph.units.npz"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
    elif spoil == "ttl":
        with (folder / "graph.ttl").open("ab") as fh:
            fh.write(b"# by hand\n")
    elif spoil == "store":
        shutil.rmtree(folder / "store")
    code, err = invoke("-v", "build", *PAGES, "-o", str(folder))
    assert code == 0, err
    for name in ("graph.ttl", "graph.units.npz"):
        assert (folder / name).read_bytes() == (seed_bundle() / name).read_bytes(), name
    assert _quads_of(folder) == _quads_of(seed_bundle())
    line = next(x for x in err.splitlines() if "rdf:" in x)
    return line


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        ("units", "the bundle has no digests of its papers' RDF"),
        ("ttl", "graph.ttl is not the file the bundle made"),
        ("store", "the bundle's store cannot be updated in place"),
    ],
)
def test_an_add_makes_every_statement_when_it_cannot_reuse(
    grown: tuple[Path, str], tmp_path: Path, spoil: str, why: str
) -> None:
    assert why in _grown_again(grown, tmp_path, spoil)


def test_skipped_blocks_give_empty_runs_with_their_units_and_the_same_rest() -> None:
    """An add's kept papers and entities (``skip``): their runs are empty and name the store
    units they keep, every other run is the one a full pass gives (the ranks of the rest take
    the kept papers' dataset introductions, say)."""
    from kgraph.rdf.convert import Run, statement_runs

    _, graph = load_graph(seed_bundle())
    papers = sorted(n for n, k in graph.nodes(data="kind") if k == "paper")
    entities = [n for n, k in graph.nodes(data="kind") if k == "entity"]
    skip = {*papers[::2], *entities[::3]}
    full = list(statement_runs(graph))
    part = list(statement_runs(graph, skip=skip))
    blocks = sum(1 for r in full if r.block is not None)
    assert all(r.block is not None for r in full[:blocks])
    assert all(r.block is None for r in full[blocks:])
    # papers, then entities, each entity followed by the nodes of its short list
    assert [r.block for r in full[:blocks] if is_node_block(r.block)] == [*papers, *entities]
    listed = [r for r in full[:blocks] if not is_node_block(r.block)]
    assert listed and all(len(r.statements) == 4 for r in listed)
    assert all("/co-occurrence/" in r.block and r.graph == full[-1].graph for r in listed)
    expected, owner = [], ""
    for whole in full:
        if whole.block is not None and is_node_block(whole.block):
            owner = whole.block
        if owner in skip and whole.block is not None:
            if whole.block == owner:  # (a kept entity's list comes with it)
                expected.append(Run(whole.graph, [], frozenset(), whole.block))
        else:
            expected.append(whole)
    assert part == expected and len(part) < len(full)
    ranked = [s for r in full[blocks:] for s in r.statements if "recencyRank" in s]
    introduced = [u for u, _, r in graph.edges(data="relation") if r == "introduces" and u in skip]
    assert ranked and introduced  # the kept papers' introductions are ranked too
    assert isinstance(part[0], Run)
