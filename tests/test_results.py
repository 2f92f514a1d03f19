"""Result records from abstract sentences: value, unit, absolute or gain, metric, dataset,
method."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from _seed import seed_bundle, seed_extractions

from kgraph.bundle import Bundle
from kgraph.records import Entity, Mention, Paper
from kgraph.results import Result, find_results

# name -> (type, relation); every occurrence of the name in the text is a mention
Known = dict[str, tuple[str, str]]
DEFAULT: Known = {
    "FooNet": ("method", "proposes"),
    "ChatGPT": ("method", "uses"),
    "accuracy": ("metric", "uses"),
    "BLEU": ("metric", "uses"),
    "error rate": ("metric", "uses"),
    "latency": ("metric", "uses"),
    "F1": ("metric", "uses"),
    "mIoU": ("metric", "uses"),
    "ImageNet": ("dataset", "uses"),
    "CIFAR-100": ("dataset", "uses"),
    "WMT14": ("dataset", "uses"),
    "GSM8K": ("dataset", "uses"),
    "MATH": ("dataset", "uses"),
    "Cityscapes": ("dataset", "uses"),
    "SuperGLUE": ("benchmark", "uses"),
}


def results_of(abstract: str, known: Known = DEFAULT) -> list[dict[str, object]]:
    paper = Paper.make("A Title", abstract)
    text = paper.text
    ends = [m.end() for m in re.finditer(r"\.(?=\s|$)|\n\n", text)] + [len(text)]
    sentences = list(zip([0, *ends[:-1]], ends, strict=True))

    def sentence_at(pos: int) -> str:
        return next(text[a:b].strip() for a, b in sentences if a <= pos < b)

    entities = []
    for name, (typ, rel) in known.items():
        spans = [m.start() for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
        if spans:
            mentions = tuple(Mention(s, s + len(name), name, "test", sentence_at(s)) for s in spans)
            entities.append(Entity(name, typ, rel, 0.9, (), mentions))
    entities.sort(key=lambda e: e.mentions[0].start)
    out = []
    for r in find_results(paper, entities):
        assert text[r.start : r.end] == r.text
        out.append(r.to_dict(entities))
    return out


def one(abstract: str) -> dict[str, object]:
    found = results_of(abstract)
    assert len(found) == 1, found
    return found[0]


def test_absolute_percent_on_a_dataset() -> None:
    r = one("FooNet achieves 85.3% accuracy on ImageNet.")
    assert (r["value"], r["unit"], r["kind"]) == (85.3, "%", "absolute")
    assert (r["metric"], r["dataset"], r["method"]) == ("accuracy", "ImageNet", "FooNet")
    assert r["text"] == "85.3%"


def test_gain_by_without_unit() -> None:
    r = one("We show that FooNet improves BLEU by 2.1 on WMT14.")
    assert (r["value"], r["unit"], r["kind"], r["metric"]) == (2.1, None, "gain", "BLEU")
    assert r["dataset"] == "WMT14"


def test_gain_in_points_and_signed_gain() -> None:
    r = one("FooNet improves BLEU by 2.1 points on WMT14.")
    assert (r["value"], r["unit"], r["kind"]) == (2.1, "points", "gain")
    found = results_of("FooNet improves GSM8K (+10.5%) and MATH (+6.5%).")
    assert [(f["value"], f["kind"], f["dataset"]) for f in found] == [
        (10.5, "gain", "GSM8K"),
        (6.5, "gain", "MATH"),
    ]


def test_gain_stated_as_a_fall_is_negative() -> None:
    r = one("FooNet reduces the error rate by 27% on ImageNet.")
    assert (r["value"], r["kind"], r["metric"]) == (-27.0, "gain", "error rate")
    r = one("FooNet gives a 27% reduction in error rate.")
    assert (r["value"], r["kind"]) == (-27.0, "gain")


def test_from_to_keeps_the_final_value() -> None:
    found = results_of("FooNet raises accuracy on GSM8K from 54% to 68.4%.")
    assert [(f["value"], f["kind"]) for f in found] == [(68.4, "absolute")]


def test_coordinated_values_share_their_kind() -> None:
    found = results_of("FooNet improves accuracy by 1.3 percent and 1.4 percent on ImageNet.")
    assert [(f["value"], f["kind"]) for f in found] == [(1.3, "gain"), (1.4, "gain")]


def test_times_unit_needs_a_metric() -> None:
    r = one("FooNet gives a 3.2x speedup in latency.")
    assert (r["value"], r["unit"], r["kind"], r["metric"]) == (3.2, "x", "gain", "latency")
    assert results_of("FooNet uses 5x the compute of ChatGPT on ImageNet.") == []


def test_bare_value_right_next_to_a_metric() -> None:
    r = one("FooNet reaches an F1 of 0.61 on WMT14.")
    assert (r["value"], r["unit"], r["metric"]) == (0.61, None, "F1")
    assert results_of("FooNet was trained for 3 epochs on WMT14 with F1 in mind.") == []


def test_numbers_that_are_not_results() -> None:
    assert results_of("FooNet trains a 7B model on CIFAR-100 in 2023 with accuracy.") == []
    assert results_of("FooNet uses only 10% of the ImageNet data for accuracy.") == []
    found = results_of("FooNet tops SuperGLUE, surpassing humans by +0.8% (90.6% vs. 89.8%).")
    assert [f["value"] for f in found] == [0.8, 90.6]


def test_method_named_right_before_the_value() -> None:
    found = results_of("FooNet reaches 47.6% accuracy, which exceeds ChatGPT 46.3% on GSM8K.")
    assert [(f["value"], f["method"]) for f in found] == [(47.6, "FooNet"), (46.3, "ChatGPT")]


def test_dataset_after_on_must_be_that_dataset() -> None:
    # "on BLINK" names no known dataset: not the nearest one (Cityscapes)
    found = results_of("FooNet gains +10.8% on BLINK and +11.3% on Cityscapes.")
    assert [(f["value"], f["dataset"]) for f in found] == [(11.3, "Cityscapes")]


def test_value_without_metric_or_dataset_is_no_result() -> None:
    assert results_of("FooNet is 25% cheaper than ChatGPT.") == []


def test_result_to_dict_without_entities() -> None:
    r = Result("p", 1.0, "%", "gain", 0, None, None, 0, 2, "1%", "s")
    assert r.to_dict()["metric"] is None


@pytest.fixture(scope="module")
def seed_results() -> list[tuple[Paper, Result]]:
    bundle = Bundle.open(seed_bundle())
    out = []
    for ext in seed_extractions():
        paper = bundle.papers[ext.paper_id]
        out += [(paper, r) for r in find_results(paper, ext.entities)]
    return out


def test_seed_pages_give_results_with_evidence(seed_results: list[tuple[Paper, Result]]) -> None:
    assert len(seed_results) >= 60
    for paper, r in seed_results:
        assert paper.text[r.start : r.end] == r.text
        assert r.text in r.sentence and r.sentence in paper.text
        assert r.metric is not None or r.dataset is not None
        assert r.kind in ("absolute", "gain") and r.unit in ("%", "points", "x", None)
    with_metric = sum(r.metric is not None for _, r in seed_results)
    gains = sum(r.kind == "gain" for _, r in seed_results)
    assert with_metric >= len(seed_results) // 2
    assert 0 < gains < len(seed_results)


def test_seed_known_result(seed_results: list[tuple[Paper, Result]]) -> None:
    # "With IBN-Net, we won ... with an mIoU of 86.18%."
    hits = [r for _, r in seed_results if r.text == "86.18%"]
    assert len(hits) == 1 and hits[0].value == 86.18 and hits[0].kind == "absolute"


# --- the coordination test between two values: one pass, same answers as the regex -----------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kgraph.results import _COORDINATED, _coordinated  # noqa: E402

_PIECES = st.sampled_from(
    [" ", "  ", "\t", "on", "in", "the", "and", "respectively", ",", "-", "–", "(", ")",
     "(ours)", "(a)", "(" + "x" * 21 + ")", "GSM8K", "x", "Top-1", "1", "1.5", "_", ".", "%",
     "ImageNet", "ſ", "K", "é", "e.g."]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_PIECES, max_size=14))
def test_coordinated_agrees_with_its_regex(pieces: list[str]) -> None:
    gap = "".join(pieces)
    assert _coordinated(gap) == bool(_COORDINATED.fullmatch(gap)), repr(gap)


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (" and ", True),
        (" percent on ImageNet and ", True),
        (", respectively, ", True),
        (" (ours) and ", True),
        (" a b c d e f g h ", True),  # 8 items
        (" a b c d e f g h i ", False),  # 9
        (" 1 and ", False),  # a number is not a connector
        (" (" + "x" * 21 + ") ", False),  # a parenthesis of more than 20 characters
        ("", True),
    ],
)
def test_coordinated_examples(gap: str, expected: bool) -> None:
    assert _coordinated(gap) is expected
    assert bool(_COORDINATED.fullmatch(gap)) is expected


def test_coordinated_is_fast_where_the_regex_backtracks() -> None:
    # one long word run with no way to match: the regex tries exponentially many splits
    gap = " " + "on" * 30 + " 1"
    assert _coordinated(gap) is False


# --- the results a bundle keeps with its extractions -----------------------------------------

import dataclasses  # noqa: E402

from kgraph.extractions import Extraction  # noqa: E402
from kgraph.graph import _results  # noqa: E402
from kgraph.results import results_fingerprint  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(["%", "points", "x", None]),
    kind=st.sampled_from(["absolute", "gain"]),
    refs=st.tuples(*[st.one_of(st.none(), st.integers(0, 50))] * 3),
    span=st.tuples(st.integers(0, 10**6), st.integers(0, 99)),
    text=st.text(),
    sentence=st.text(),
)
def test_result_rows_round_trip(
    value: float,
    unit: str | None,
    kind: str,
    refs: tuple[int | None, int | None, int | None],
    span: tuple[int, int],
    text: str,
    sentence: str,
) -> None:
    r = Result("p", value, unit, kind, *refs, span[0], span[0] + span[1], text, sentence)
    assert Result.from_row("p", r.to_row()) == r
    ext = Extraction("p", "T", (), (), (r,))
    assert Extraction.from_dict(json.loads(json.dumps(ext.to_dict()))) == ext


def test_a_damaged_result_row_is_a_damaged_record() -> None:
    row = {"id": "p", "title": "T", "entities": [], "results": [[1.0, "%", "gain"]]}
    with pytest.raises(ValueError, match="10"):
        Extraction.from_dict(row)


def test_a_bundle_keeps_each_papers_results_found_with_its_own_types() -> None:
    bundle = Bundle.open(seed_bundle())
    assert bundle.manifest["results_code"] == results_fingerprint()
    exts = list(bundle.extractions.values())
    assert exts and all(ext.results is not None for ext in exts)
    for ext in exts:
        assert list(ext.results or ()) == find_results(bundle.papers[ext.paper_id], ext.entities)
    assert sum(len(ext.results or ()) for ext in exts) >= 60


def test_the_graph_takes_the_kept_results_only_for_the_types_they_were_found_with() -> None:
    bundle = Bundle.open(seed_bundle())
    ext = next(e for e in bundle.extractions.values() if e.results)
    paper = bundle.papers[ext.paper_id]
    own = [e.type for e in ext.entities]
    found = find_results(paper, ext.entities)
    marked = dataclasses.replace(found[0], value=-12345.0)  # not what finding gives
    kept = dataclasses.replace(ext, results=(marked,))
    assert list(_results(paper, kept, own)) == [marked]  # the same types: taken as kept
    # an entity resolved to another type: found again, with that type
    i = next(i for i, t in enumerate(own) if t in ("metric", "dataset", "benchmark"))
    other = [*own[:i], "task", *own[i + 1 :]]
    assert list(_results(paper, kept, other)) == find_results(paper, ext.entities, other)
    assert list(_results(paper, dataclasses.replace(ext, results=None), own)) == found
    # a paper that took another id: its kept results take it too
    moved = dataclasses.replace(paper, id="2501.00001")
    assert [r.paper_id for r in _results(moved, kept, own)] == ["2501.00001"]


@pytest.mark.parametrize("code_changed", [False, True])
def test_an_add_finds_the_results_again_when_their_code_changed(
    tmp_path: Path, code_changed: bool
) -> None:
    import hashlib
    import shutil

    from _seed import ROOT

    from kgraph.bundle import build

    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    # one kept result made wrong (the manifest made to agree), as other code might have found
    path = folder / "extractions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    row = next(r for r in rows if r.get("results"))
    row["results"][0][0] = -12345.0
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    path.write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["extractions.jsonl"] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    if code_changed:
        manifest["results_code"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    build(folder, [str(ROOT / "tests" / "fixtures" / "papers.jsonl")])
    bundle = Bundle.open(folder)
    assert bundle.manifest["results_code"] == results_fingerprint()
    values = {r.value for ext in bundle.extractions.values() for r in ext.results or ()}
    # kept while the code is the same (a cache: read, not checked); found again after
    assert (-12345.0 in values) is not code_changed
    if code_changed:
        for ext in bundle.extractions.values():
            paper = bundle.papers[ext.paper_id]
            assert list(ext.results or ()) == find_results(paper, ext.entities)


def test_source_fingerprint_follows_the_code_and_the_version(tmp_path: Path) -> None:
    """What the bundle's caches record of the code that made them (``results_code``, the
    resolution state's, the RDF units'): it changes with any module's source or the version."""
    import hashlib
    import importlib.util

    from kgraph._hashing import source_fingerprint

    def module(name: str, text: str) -> Any:
        path = tmp_path / f"{name}.py"
        path.write_text(text, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        return importlib.util.module_from_spec(spec)

    a, b = module("a", "X = 1\n"), module("b", "Y = 2\n")
    both = source_fingerprint(a, b, version=1)
    assert both == hashlib.sha256(b"1X = 1\nY = 2\n").hexdigest()
    assert source_fingerprint(a, b, version=2) != both
    assert source_fingerprint(b, a, version=1) != both
    assert source_fingerprint(a, module("b", "Y = 3\n"), version=1) != both
    import kgraph.results as results_module

    assert results_fingerprint() == source_fingerprint(results_module)
