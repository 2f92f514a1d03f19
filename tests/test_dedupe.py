"""Records of one paper merge (kgraph.dedupe): a build merges the bundle's papers with the new
records, taking the bundle's papers' title keys as made once."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kgraph.dedupe import merge_papers
from kgraph.readers import iter_papers
from kgraph.records import title_key

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


def _title_key_by_regex(title: str) -> str:
    """The title key as its definition says (every title through NFKC and the regex)."""
    normal = unicodedata.normalize("NFKC", title)
    key = re.sub(r"[\W_]+", "", re.sub(r"\\[a-zA-Z]+", "", normal).lower())
    return key or "".join(normal.casefold().split())


@given(
    st.lists(
        st.one_of(
            st.characters(max_codepoint=127),
            st.sampled_from(["\\alpha", "\\mathbf{x}", "\\", "_", "ﬁ", "É", "²", "\u00a0"]),
        )
    ).map("".join)
)
def test_an_ascii_title_keys_as_any_other(title: str) -> None:
    """ASCII titles (nearly all) skip NFKC and the regex: the key is the same."""
    assert title_key(title) == _title_key_by_regex(title)


def test_the_seed_titles_key_as_any_other() -> None:
    titles = [r.title for r in iter_papers(PAGES)]
    assert [title_key(t) for t in titles] == [_title_key_by_regex(t) for t in titles]
    assert title_key(r"$\mathcal{O}(n)$ Attention: Fast") == "onattentionfast"
    assert title_key("  ?!  ") == "?!"
    assert title_key("Ｔｒａｎｓｆｏｒｍｅｒ for Élan") == "transformerforélan"  # (NFKC)
