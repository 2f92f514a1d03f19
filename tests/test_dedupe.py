"""Records of one paper merge (kgraph.dedupe): a build merges the bundle's papers with the new
records, taking the bundle's papers' title keys as made once."""

from __future__ import annotations

from pathlib import Path

from kgraph.dedupe import merge_papers
from kgraph.readers import iter_papers

PAGES = sorted(
    str(p) for p in (Path(__file__).resolve().parent.parent / "graphs" / "pages").glob("*.txt")
)


def test_title_keys_given_merge_as_those_made() -> None:
    records = list(iter_papers(PAGES))
    merged = merge_papers(records)
    assert len(records) == 337 and len(merged) == 314
    made: list[str] = []

    def given(paper):  # type: ignore[no-untyped-def]
        made.append(paper.title)
        return paper.title_key

    assert merge_papers(records, given) == merged
    assert len(made) == len(records)  # (every key taken from the caller, none made again)
    # a key the caller gives is the one used: two papers given one key merge
    a, b = merged[0], merged[1]
    assert len(merge_papers([a, b], lambda p: "same")) == 1
    assert len(merge_papers([a, b])) == 2
