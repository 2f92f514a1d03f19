"""Resolution that grows (kgraph.resolve_delta): adding papers to a resolution state gives
exactly what resolving every paper again gives, on the seed papers and on corpora made to
hit every decision that depends on other papers (acronyms defined one or several ways, bare
acronyms, gazetteer ids that refuse to merge, claimed keys, ids that collide)."""

from __future__ import annotations

import gzip
import io
import random
from dataclasses import replace

import pytest
from _seed import seed_extractions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgraph.extractions import Extraction
from kgraph.records import Entity, Mention
from kgraph.resolve import Gazetteer, GazetteerEntry, Resolution, resolve
from kgraph.resolve_delta import ResolutionState, extend, resolve_tracked


def same(a: Resolution, b: Resolution) -> None:
    assert list(a.entities) == list(b.entities)
    for cid, e in a.entities.items():
        assert e == b.entities[cid], cid
    assert a.assignments == b.assignments
    assert list(a.extractions) == list(b.extractions)


def dumped(state: ResolutionState) -> bytes:
    buf = io.BytesIO()
    state.dump(buf)
    return buf.getvalue()


def round_trip(state: ResolutionState) -> ResolutionState:
    return ResolutionState.load(io.BytesIO(dumped(state)))


def grow(
    steps: list[list[Extraction]],
    gazetteer: Gazetteer | None = None,
    *,
    reload: bool = True,
    drop: list[set[str]] | None = None,
    joined: list[int] | None = None,
) -> tuple[Resolution, ResolutionState]:
    """Resolve the first step in full, then add each next one to the state (a paper already
    there is extracted again), less the papers of ``drop[i]`` (gone before step i);
    ``joined`` receives each step's per-paper entities joined without resolving again."""
    res, state = resolve_tracked(steps[0], gazetteer)
    seen = {e.paper_id: e for e in steps[0]}
    for i, step in enumerate(steps[1:], 1):
        for pid in drop[i] if drop else ():
            seen.pop(pid, None)
        changed = {e.paper_id for e in step if e.paper_id in seen}
        seen.update((e.paper_id, e) for e in step)
        state = round_trip(state) if reload else state
        res, state = extend(state, dict(seen), gazetteer, changed=changed)
        if joined is not None:
            joined.append(state.joined)
    return res, state


# --- the seed papers -------------------------------------------------------------------------


def test_tracked_resolution_is_the_plain_one() -> None:
    exts = seed_extractions()
    same(resolve_tracked(exts)[0], resolve(exts))


@pytest.mark.parametrize("seed", range(6))
def test_adding_seed_papers_resolves_as_a_whole(seed: int) -> None:
    exts = list(seed_extractions())
    random.Random(seed).shuffle(exts)
    cuts = sorted(random.Random(seed + 100).sample(range(1, len(exts)), 3))
    steps = [exts[a:b] for a, b in zip([0, *cuts], [*cuts, len(exts)], strict=True)]
    joined: list[int] = []
    res, state = grow(steps, reload=seed % 2 == 0, joined=joined)
    same(res, resolve(exts))
    assert sum(joined) > 0  # entities named before joined without resolving their part
    assert state.papers == {e.paper_id for e in exts}
    # and the state it leaves is the one made in one go, byte for byte
    assert dumped(state) == dumped(resolve_tracked(exts)[1])


def test_adding_one_paper_resolves_a_part_only() -> None:
    exts = list(seed_extractions())
    _, state = resolve_tracked(exts[:-1])
    res, state = extend(state, {e.paper_id: e for e in exts})
    same(res, resolve(exts))
    total = sum(len(e.entities) for e in exts)
    assert 0 < state.resolved < total // 4
    # each of the new paper's per-paper entities is resolved or joins an entity
    assert state.resolved + state.joined >= len(exts[-1].entities)


def test_adding_nothing_changes_nothing() -> None:
    exts = seed_extractions()
    res, state = resolve_tracked(exts)
    again, state = extend(round_trip(state), {e.paper_id: e for e in exts})
    same(again, res)
    assert state.resolved == 0


def test_papers_gone_or_extracted_again_resolve_as_a_whole() -> None:
    exts = list(seed_extractions())
    _, state = resolve_tracked(exts)
    # a paper gone, one with a new id, one extracted again with an entity fewer
    gone, renamed, redone = exts[0], exts[1], next(e for e in exts[2:] if len(e.entities) > 1)
    now = {e.paper_id: e for e in exts if e not in (gone, renamed, redone)}
    now["new-id"] = replace(renamed, paper_id="new-id")
    now[redone.paper_id] = replace(redone, entities=redone.entities[1:])
    res, state = extend(state, now, changed={redone.paper_id})
    same(res, resolve(now.values()))
    assert dumped(state) == dumped(resolve_tracked(now.values())[1])
    assert gone.paper_id not in state.papers and "new-id" in state.papers


def test_load_refuses_what_is_not_a_state() -> None:
    with pytest.raises(ValueError, match=r"another form \(version 99; this kgraph reads"):
        ResolutionState.load(io.BytesIO(gzip.compress(b'{"kgraph_resolution_state": 99}\n')))
    with pytest.raises(ValueError, match="not a resolution state"):
        ResolutionState.load(io.BytesIO(gzip.compress(b'{"kgraph": 1}\n')))
    for bad in (b"", b'{"kgraph_resolution_state": 1}\n', gzip.compress(b"")):
        with pytest.raises(ValueError, match="not a resolution state"):
            ResolutionState.load(io.BytesIO(bad))
    good = gzip.decompress(dumped(resolve_tracked(seed_extractions())[1])).splitlines()
    for line in (b"[1, 2]", b'[["key:x"], [], [["not", "a", "draft"]]]'):
        with pytest.raises(ValueError, match="not a resolution state: line 3"):
            ResolutionState.load(io.BytesIO(gzip.compress(b"\n".join([*good[:2], line]))))


def test_the_same_state_is_the_same_bytes() -> None:
    exts = seed_extractions()
    first, again = dumped(resolve_tracked(exts)[1]), dumped(resolve_tracked(exts[::-1])[1])
    assert first == again
    assert dumped(round_trip(resolve_tracked(exts)[1])) == first


def test_a_bare_acronym_follows_its_meanings_when_they_merge() -> None:
    def ent(name: str, *aliases: str) -> Entity:
        mentions = tuple(Mention(0, 1, s, "test") for s in (name, *aliases))
        return Entity(name, "task", "uses", 0.8, aliases, mentions)

    rc = [
        Extraction("p1", "", (ent("relation classification", "RC"),), ()),
        Extraction("p2", "", (ent("reading comprehension", "RC"),), ()),
        Extraction("p3", "", (ent("RC"),), ()),
    ]
    rc[0] = Extraction("p1", "", rc[0].entities, (("RC", "relation classification"),))
    rc[1] = Extraction("p2", "", rc[1].entities, (("RC", "reading comprehension"),))
    # RC has two meanings: its bare use is an entity of its own, until a paper names both
    # long forms as one thing: then RC means one thing and its bare use joins it
    bridge = Extraction("p4", "", (ent("relation classification", "reading comprehension"),), ())
    none = Gazetteer.empty()
    before = resolve(rc, none)
    assert before.assignments["p3"][0] not in (*before.assignments["p1"], *before.assignments["p2"])
    res, _ = grow([rc, [bridge]], none)
    same(res, resolve([*rc, bridge], none))
    assert res.assignments["p3"] == res.assignments["p4"]


def test_an_acronym_no_paper_defines_any_more_is_a_name_again() -> None:
    def ent(name: str, *aliases: str) -> Entity:
        mentions = tuple(Mention(0, 1, s, "test") for s in (name, *aliases))
        return Entity(name, "task", "uses", 0.8, aliases, mentions)

    definer = Extraction(
        "p1", "", (ent("relation classification", "RC"),), (("RC", "relation classification"),)
    )
    # an acronym defined elsewhere is no merge key: "RC" here is an alias that holds nothing
    alias = Extraction("p2", "", (ent("reading comprehension", "RC"),), ())
    bare = Extraction("p3", "", (ent("RC"),), ())
    none = Gazetteer.empty()
    _, state = resolve_tracked([definer, alias, bare], none)
    # once the only paper that defines RC is gone, "RC" is a plain name in both papers left
    res, state = extend(state, {"p2": alias, "p3": bare}, none)
    same(res, resolve([alias, bare], none))
    assert res.assignments["p2"] == res.assignments["p3"]
    # and defining it again takes it back
    res, state = extend(state, {"p1": definer, "p2": alias, "p3": bare}, none)
    same(res, resolve([definer, alias, bare], none))
    assert res.assignments["p2"] != res.assignments["p3"] == res.assignments["p1"]
    # the same when it had two meanings (so that it never had one long form to expand to)
    other = Extraction("p4", "", (ent("random crop", "RC"),), (("RC", "random crop"),))
    _, state = resolve_tracked([definer, other, alias, bare], none)
    res, state = extend(state, {"p2": alias, "p3": bare}, none)
    same(res, resolve([alias, bare], none))


# --- corpora made to hit the decisions that depend on other papers ----------------------------

GAZ = Gazetteer(
    [
        GazetteerEntry("method/bert", "method", "BERT", ("Bidirectional Encoder",)),
        GazetteerEntry("method/roberta", "method", "RoBERTa", ()),
        GazetteerEntry("method/sam", "method", "Segment Anything Model", ("SAM",)),
        GazetteerEntry("dataset/imagenet", "dataset", "ImageNet", ("ILSVRC 2012",)),
        GazetteerEntry("benchmark/imagenet-bench", "benchmark", "ImageNet-B", ("IN-B",)),
        GazetteerEntry("method/large-language-model", "method", "large language model", ()),
    ]
)
#: acronyms and the long forms papers give them (several: ambiguous once both are defined)
DEFINITIONS = {
    "RC": ["relation classification", "reading comprehension"],
    "LLM": ["large language model", "large language models", "Large Language Model"],
    "SAM": ["Sharpness-Aware Minimization", "Segment Anything Model"],
    "RLHF": [
        "reinforcement learning from human feedback",
        "reinforcement learning with human feedback",
    ],
    "DBC": ["deep belief classifier"],
    "OOD": ["out-of-distribution"],
}
NAMES = [
    *DEFINITIONS,
    *(long for longs in DEFINITIONS.values() for long in longs),
    "LLMs",
    "LLM-based agents",
    "OOD detection",
    "out-of-distribution detection",
    "dBc",
    "BERT",
    "Bert",
    "RoBERTa",
    "ImageNet",
    "ILSVRC 2012",
    "ILSVRC-2012",
    "IN-B",
    "C++",
    "C",
    "Foo",
    "foo",
    "Foo Bar",
    "RC tasks",
]
KBS = [None, None, None, "method/bert", "method/roberta", "method/sam", "dataset/imagenet"]
TYPES = ["method", "method", "dataset", "benchmark", "task", "metric"]
#: names that new papers mostly join the entities of (kgraph.resolve_delta._joins): a few
#: entities, each named alike but for case and number, with its gazetteer id if any (given
#: or not), and aliases of the same entity
JOINING = {
    ("Foo Net", "foo net", "Foo Nets", "FooNet"): None,
    ("Baz", "baz"): None,
    ("BERT", "Bert"): "method/bert",
    ("ImageNet", "ILSVRC 2012"): "dataset/imagenet",
}


#: names of a corpus of acronyms used bare, by their long forms and inside names
ACRONYMS = [*DEFINITIONS, *DEFINITIONS, "LLMs", "OOD detection", "RC tasks", *DEFINITIONS["RC"]]


@st.composite
def entity(draw: st.DrawFn, joining: bool = False, acronyms: bool = False) -> Entity:
    if acronyms:
        name = draw(st.sampled_from(ACRONYMS))
        typ = draw(st.sampled_from(["task", "task", "method"]))
        mentions = (Mention(0, len(name), name, "test"),)
        return Entity(name, typ, "uses", 0.8, (), mentions, None)
    names = list(draw(st.sampled_from(list(JOINING)))) if joining else NAMES
    name = draw(st.sampled_from(names))
    aliases = tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True)))
    aliases = tuple(a for a in aliases if a != name)
    written = (name, *aliases[: draw(st.integers(0, len(aliases)))])
    mentions = tuple(Mention(0, len(s), s, "test") for s in written)
    confidence = draw(st.sampled_from([0.5, 0.7, 0.8, 0.9]))
    if joining:
        kb = JOINING[tuple(names)] if draw(st.booleans()) else None
        typ = draw(st.sampled_from(["method", "method", "method", "dataset"]))
    else:
        kb, typ = draw(st.sampled_from(KBS)), draw(st.sampled_from(TYPES))
    return Entity(name, typ, "uses", confidence, aliases, mentions, kb)


@st.composite
def paper(
    draw: st.DrawFn, pid: str, joining_only: bool = False, acronyms: bool = False
) -> Extraction:
    entities = tuple(draw(st.lists(entity(joining_only, acronyms), min_size=0, max_size=4)))
    if joining_only:  # (defining no acronym, which would change what the others mean)
        return Extraction(pid, pid, entities, ())
    if acronyms and draw(st.integers(0, 3)):  # (most papers define none)
        return Extraction(pid, pid, entities, ())
    shorts = draw(st.lists(st.sampled_from(sorted(DEFINITIONS)), max_size=2, unique=True))
    abbr = tuple((s, draw(st.sampled_from(DEFINITIONS[s]))) for s in shorts)
    defined = tuple(
        Entity(long, "method", "uses", 0.9, (short,), (Mention(0, 1, short, "test"),))
        for short, long in abbr
        if draw(st.booleans())
    )
    return Extraction(pid, pid, entities + defined, abbr if draw(st.booleans()) else None)


@st.composite
def corpus(
    draw: st.DrawFn, joining_only: bool = False, acronyms: bool = False
) -> tuple[list[list[Extraction]], list[set[str]]]:
    """Steps of papers to add (some papers extracted again in a later step, with other
    entities) and, for each step, the papers gone before it."""
    n = draw(st.integers(2, 14))
    papers = [
        draw(paper(f"p{i:02d}", joining_only, acronyms)) for i in draw(st.permutations(range(n)))
    ]
    cuts = sorted(draw(st.lists(st.integers(1, n - 1), min_size=1, max_size=3, unique=True)))
    steps = [papers[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    drop: list[set[str]] = [set()]
    for i in range(1, len(steps)):
        before = [e.paper_id for step in steps[:i] for e in step]
        again = draw(st.lists(st.sampled_from(before), max_size=2, unique=True))
        steps[i] = [*steps[i], *(draw(paper(pid, joining_only, acronyms)) for pid in again)]
        gone = draw(st.lists(st.sampled_from(before), max_size=2, unique=True))
        drop.append(set(gone) - set(again))
    return steps, drop


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus(), st.booleans(), st.booleans())
def test_growing_is_resolving_again(
    made: tuple[list[list[Extraction]], list[set[str]]], gaz: bool, reload: bool
) -> None:
    grown_as_a_whole(*made, GAZ if gaz else Gazetteer.empty(), reload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus(joining_only=True), st.booleans(), st.booleans())
def test_joining_is_resolving_again(
    made: tuple[list[list[Extraction]], list[set[str]]], gaz: bool, reload: bool
) -> None:
    """The same on papers that name the same few entities, which new papers mostly join
    without resolving them again (kgraph.resolve_delta._joins)."""
    grown_as_a_whole(*made, GAZ if gaz else Gazetteer.empty(), reload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus(acronyms=True), st.booleans(), st.booleans())
def test_bare_acronyms_grow_as_a_whole(
    made: tuple[list[list[Extraction]], list[set[str]]], gaz: bool, reload: bool
) -> None:
    """The same on papers that mostly use acronyms bare, a few defining them one way or
    another, which new papers' bare uses join when their meanings stay (_bare_target)."""
    grown_as_a_whole(*made, GAZ if gaz else Gazetteer.empty(), reload)


def grown_as_a_whole(
    steps: list[list[Extraction]], drop: list[set[str]], gazetteer: Gazetteer, reload: bool
) -> None:
    res, state = grow(steps, gazetteer, reload=reload, drop=drop)
    everything: dict[str, Extraction] = {}
    for step, gone in zip(steps, drop, strict=True):
        for pid in gone:
            everything.pop(pid, None)
        everything.update((e.paper_id, e) for e in step)
    same(res, resolve(everything.values(), gazetteer))
    assert state.papers == set(everything)
    assert dumped(state) == dumped(resolve_tracked(everything.values(), gazetteer)[1])


# --- a new paper's entities that join an entity without resolving its part again --------------


def named(name: str, typ: str = "method", *aliases: str, kb: str | None = None) -> Entity:
    mentions = tuple(Mention(0, 1, s, "test") for s in (name, *aliases))
    return Entity(name, typ, "uses", 0.8, aliases, mentions, kb)


def paper_of(pid: str, *entities: Entity) -> Extraction:
    return Extraction(pid, "", entities, ())


def joined_by(before: list[Extraction], after: list[Extraction], gazetteer: Gazetteer = GAZ) -> int:
    """Add ``after`` to the state of ``before``: how many per-paper entities joined an entity
    without their part being resolved again, checked against resolving all of them."""
    _, state = resolve_tracked(before, gazetteer)
    every = [*before, *after]
    res, state = extend(round_trip(state), {e.paper_id: e for e in every}, gazetteer)
    same(res, resolve(every, gazetteer))
    assert dumped(state) == dumped(resolve_tracked(every, gazetteer)[1])
    return state.joined


def test_a_new_paper_naming_known_entities_joins_them() -> None:
    before = [
        paper_of("p1", named("Foo Net"), named("ImageNet", "dataset", kb="dataset/imagenet")),
        paper_of("p2", named("foo net")),
    ]
    # the name follows the counts: two more papers call it "foo net"
    after = [
        paper_of("p3", named("foo net"), named("ImageNet", "dataset", kb="dataset/imagenet")),
        paper_of("p0", named("foo net")),
    ]
    assert joined_by(before, after) == 3
    res = resolve([*before, *after], GAZ)
    foo = res.entity_of("p1", 0)
    assert foo.name == "foo net" and foo.papers == ("p0", "p1", "p2", "p3")
    assert res.id_of("p3", 1) == res.id_of("p1", 1) == "dataset/imagenet"


@pytest.mark.parametrize(
    ("before", "new", "why"),
    [
        ([named("Foo Net")], named("Foo Net", "dataset"), "a type it did not have"),
        (
            [named("Foo Net"), named("Foo Net", "dataset"), named("Foo Net")],
            named("Foo Net", "dataset"),
            "its type tied (decided by confidence, not kept)",
        ),
        ([named("Foo Net")], named("Foo Net", "method", "Foo Network"), "a new key"),
        ([named("BERT", kb="method/bert")], named("BERT", kb="method/roberta"), "a new id"),
        (
            [named("BERT", kb="method/bert"), named("Bert", kb="method/roberta")] * 2,
            named("Bert", kb="method/roberta"),
            "an id whose set does not hold the key, the claim changing hands",
        ),
        (
            [
                named("BERT", kb="method/bert"),
                named("Bert", kb="method/roberta"),
                named("RoBERTa", kb="method/roberta"),
            ],
            named("Bert", "method", "RoBERTa"),
            "keys in two sets of one part",
        ),
    ],
)
def test_what_a_new_paper_cannot_join_is_resolved_again(
    before: list[Entity], new: Entity, why: str
) -> None:
    papers = [paper_of(f"p{i}", e) for i, e in enumerate(before)]
    assert joined_by(papers, [paper_of("p9", new)]) == 0, why


def test_a_bare_acronym_joins_what_the_corpus_says_it_means() -> None:
    """An acronym a new paper uses without its long form joins the entity of its one
    meaning, or the entity of the acronym when it has several and was used bare before; it is
    resolved again when it has several and this is its first bare use (which links the
    meanings' parts), or when the add changes what it means."""
    definer = Extraction(
        "p1",
        "",
        (named("relation classification", "task", "RC"),),
        (("RC", "relation classification"),),
    )
    before = [definer, paper_of("p2", named("RC", "task"))]
    assert joined_by(before, [paper_of("p3", named("RC", "task"))]) == 1
    # (and a paper that names it by its long form joins it)
    assert joined_by(before, [paper_of("p3", named("relation classification", "task"))]) == 1
    # a first bare use joins too (the entity is named by its long form: bare uses name it
    # only while all its per-paper entities are bare)
    assert joined_by([definer], [paper_of("p3", named("RC", "task"))]) == 1

    other = Extraction(
        "p4",
        "",
        (named("reading comprehension", "task", "RC"),),
        (("RC", "reading comprehension"),),
    )
    # two meanings: a bare use is an entity of its own, which a later bare use joins
    two = [definer, other, paper_of("p2", named("RC", "task"))]
    assert joined_by(two, [paper_of("p3", named("RC", "task"))]) == 1
    assert (
        joined_by(two, [paper_of("p3", named("RC", "task")), paper_of("p5", named("RC", "task"))])
        == 2
    )
    # its first bare use links the two meanings' parts: resolved again
    assert joined_by([definer, other], [paper_of("p3", named("RC", "task"))]) == 0
    # an add that gives it a second meaning resolves its bare uses again
    assert joined_by(before, [other, paper_of("p3", named("RC", "task"))]) == 0


def test_a_new_paper_joins_one_entity_of_a_part_of_several() -> None:
    # "bert": claimed by both ids, goes to method/bert (ties go to the least id); the
    # roberta entity is linked to it: one part, two entities, each its own set
    before = [
        paper_of("p1", named("BERT", kb="method/bert")),
        paper_of("p2", named("Bert", kb="method/roberta")),
    ]
    _, state = resolve_tracked(before, GAZ)
    assert [len(part.drafts) for part in state.parts.values()] == [2]
    # an entity without an id named "Bert", and one with the id that holds the key: both
    # join that entity
    after = [paper_of("p3", named("Bert")), paper_of("p4", named("BERT", kb="method/bert"))]
    assert joined_by(before, after) == 2
    res = resolve([*before, *after], GAZ)
    assert res.id_of("p3", 0) == res.id_of("p4", 0) == res.id_of("p1", 0) == "method/bert"
    # one that reaches the part otherwise (a key it does not have, and the other id) marks it:
    # it is resolved again, and so are the others
    after.append(paper_of("p5", named("RoBERTa", kb="method/roberta")))
    assert joined_by(before, after) == 0


def test_an_entity_of_a_paper_extracted_again_is_resolved_again() -> None:
    before = [paper_of("p1", named("Foo Net")), paper_of("p2", named("Foo Net"))]
    _, state = resolve_tracked(before, GAZ)
    again = paper_of("p2", named("Foo Net"), named("Foo Net"))
    res, state = extend(state, {"p1": before[0], "p2": again}, GAZ, changed={"p2"})
    same(res, resolve([before[0], again], GAZ))
    assert state.joined == 0 and state.resolved == 3
