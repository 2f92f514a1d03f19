"""The Hugging Face Daily Papers page reader on the real sample pages, and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.readers import iter_papers, read_papers, read_text
from kgraph.readers.hfpage import parse_date

PAGES = Path(__file__).resolve().parent.parent / "graphs" / "pages"
PAGE_FILES = sorted(str(p) for p in PAGES.glob("*.txt"))


@pytest.fixture(scope="module")
def seeds():  # type: ignore[no-untyped-def]
    return read_papers(PAGE_FILES)


def by_title(result, title):  # type: ignore[no-untyped-def]
    hits = [p for p in result.papers if p.title == title]
    assert len(hits) == 1, title
    return hits[0]


@pytest.mark.parametrize(
    ("name", "count"),
    [("000_a3a7874608140e38.txt", 78), ("001_6b1eaca390782b18.txt", 95),
     ("003_a403feae01dbded0.txt", 126), ("004_cdead03a1624523d.txt", 38)],
)
def test_each_page_count(name: str, count: int) -> None:
    papers = list(iter_papers([str(PAGES / name)]))
    assert len(papers) == count
    assert all(p.title and p.abstract for p in papers)


def test_seed_totals_and_duplicates(seeds) -> None:  # type: ignore[no-untyped-def]
    assert seeds.entries == 337
    assert seeds.problems == []
    # 315 distinct titles, but one paper is listed twice under two spellings of its title
    # ("$\textbf{Only-IF}$:Revealing..." and "Only-IF:Revealing...", same abstract): 314 papers.
    assert len(seeds.papers) == 314
    assert seeds.duplicates == 23
    only_if = [p for p in seeds.papers if "Only-IF" in p.title]
    assert len(only_if) == 1
    assert len(only_if[0].sources) == 2
    assert len({p.abstract for p in seeds.papers}) == 314


def test_titles_and_abstracts_exact(seeds) -> None:  # type: ignore[no-untyped-def]
    p = by_title(
        seeds,
        "CORE: A Few-Shot Company Relation Classification Dataset for Robust Domain Adaptation",
    )
    assert p.abstract.startswith(
        "We introduce CORE, a dataset for few-shot relation classification (RC)"
    )
    assert p.abstract.endswith("encourage further research in the field.")
    assert p.sources == (f"{PAGES / '000_a3a7874608140e38.txt'}:15",)
    p = by_title(
        seeds,
        "RegMean++: Enhancing Effectiveness and Generalization of Regression Mean for "
        "Model Merging",
    )
    assert p.abstract.startswith(
        "Regression Mean (RegMean), an approach that formulates model merging"
    )
    assert (p.authors_count, p.published, p.upvotes, p.organization) == (
        4,
        "2025-08-05",
        None,
        None,
    )
    p = by_title(seeds, "Agent Learning via Early Experience")
    assert (p.organization, p.published, p.upvotes, p.authors_count) == (
        "Meta Research",
        "2025-10-09",
        11,
        None,
    )
    p = by_title(
        seeds, "Meta-Awareness Enhances Reasoning Models: Self-Alignment Reinforcement Learning"
    )
    assert (p.organization, p.published, p.upvotes) == ("KAIST AI", "2025-09-26", 4)
    p = by_title(seeds, "StyleSinger: Style Transfer for Out-of-Domain Singing Voice Synthesis")
    assert (p.authors_count, p.published) == (9, "2023-12-17")
    assert p.abstract.endswith("can be found at https://stylesinger.github.io/.")


def test_latex_titles_kept_as_written(seeds) -> None:  # type: ignore[no-untyped-def]
    g2 = by_title(seeds, r"$\text{G}^2$RPO: Granular GRPO for Precise Reward in Flow Models")
    assert g2.abstract.startswith(
        "The integration of online reinforcement learning (RL) into diffusion"
    )
    s2 = by_title(
        seeds,
        "S$^{2}$FT: Efficient, Scalable and Generalizable LLM Fine-tuning by Structured Sparsity",
    )
    assert s2.abstract.startswith("Current PEFT methods for LLMs")


def test_dates_without_year_and_upvotes(seeds) -> None:  # type: ignore[no-untyped-def]
    p = by_title(seeds, "Bagging-Based Model Merging for Robust General Text Embeddings")
    assert (p.published, p.authors_count) == ("--02-05", 7)
    dated = [p for p in seeds.papers if p.published == "--01-30"]
    assert [p.upvotes for p in dated] == [4]


def test_duplicate_merges_metadata_and_sources(seeds) -> None:  # type: ignore[no-untyped-def]
    p = by_title(seeds, "On the Effects of Data Scale on Computer Control Agents")
    # on page 000 without metadata, on page 004 with it: the merge keeps both
    assert [s.rsplit("/", 1)[1] for s in p.sources] == [
        "000_a3a7874608140e38.txt:11", "004_cdead03a1624523d.txt:105"]
    assert (p.authors_count, p.published) == (7, "2024-06-05")


def test_ids_are_stable_hashes_of_the_title(seeds) -> None:  # type: ignore[no-untyped-def]
    p = by_title(seeds, "On the Effects of Data Scale on Computer Control Agents")
    assert p.id == "t-dae90e244771"
    assert len({p.id for p in seeds.papers}) == 314


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Oct 9, 2025 11", ("2025-10-09", 11)), ("Dec 17, 2023", ("2023-12-17", None)),
     ("Feb 5", ("--02-05", None)), ("Jan 30 4", ("--01-30", 4)),
     ("Sept 3, 2024", ("2024-09-03", None)),
     ("Foo 3", None), ("Mar 45", None), ("Meta Research", None)],
)
def test_parse_date(text: str, expected: tuple[str, int | None] | None) -> None:
    assert parse_date(text) == expected


# --- property: render random papers into the page format and read them back unchanged --------

_word = st.text(
    alphabet=st.characters(
        categories=("Lu", "Ll", "Nd"), include_characters="$^{}\\-+:,;'()&é–ö", max_codepoint=0x24F
    ),
    min_size=1, max_size=12,
)
_title = st.lists(_word, min_size=2, max_size=14).map(" ".join)
_abstract = st.lists(_word, min_size=35, max_size=80).map(lambda ws: " ".join(ws) + ".")
_meta = st.fixed_dictionaries({
    "authors_count": st.none() | st.integers(1, 60),
    "org": st.none()
    | st.sampled_from([("metaresearch", "Meta Research"), ("kaist-ai", "KAIST AI")]),
    "date": st.tuples(st.integers(1, 12), st.integers(1, 28), st.none() | st.integers(1990, 2030),
                      st.none() | st.integers(0, 999)),
}) | st.none()
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def render(papers: list[tuple[str, str, dict]]) -> str:  # type: ignore[type-arg]
    out = ["new", "", "Get trending papers in your email inbox!", "", "Subscribe", "",
           "byAK and the research community", "", "Mar 11", ""]
    for title, abstract, meta in papers:
        out += [title, "", abstract, ""]
        if meta is None:  # pages 000-003 carry no metadata at all
            continue
        block = []
        if meta["authors_count"] is not None:
            block.append(f"  • {meta['authors_count']} authors")
        if meta["org"] is not None:
            block.append(" ".join(meta["org"]))
        m, d, y, up = meta["date"]
        date = f"{MONTHS[m - 1]} {d}" + (f", {y}" if y else "")
        date += f" {up}" if up is not None else ""
        block += ["·", date]
        out += [*block, ""]
    return "\n".join(out)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_title, _abstract, _meta), min_size=1, max_size=6,
                unique_by=lambda t: "".join(ch for ch in t[0].lower() if ch.isalnum())))
def test_round_trip(papers: list[tuple[str, str, dict]]) -> None:  # type: ignore[type-arg]
    from kgraph.records import title_key

    keys = [title_key(t) for t, _, _ in papers]
    if len(set(keys)) != len(keys) or not all(keys):
        return
    result = read_text(render(papers), "page.txt", fmt="hf")
    assert result.problems == []
    assert [(p.title, p.abstract) for p in result.papers] == [(t, a) for t, a, _ in papers]
    for paper, (_, _, meta) in zip(result.papers, papers, strict=True):
        if meta is None:
            assert (paper.published, paper.upvotes, paper.authors_count) == (None, None, None)
        else:
            assert paper.authors_count == meta["authors_count"]
            assert paper.organization == (meta["org"][1] if meta["org"] else None)
            m, d, y, up = meta["date"]
            assert paper.published == (f"{y}-{m:02d}-{d:02d}" if y else f"--{m:02d}-{d:02d}")
            assert paper.upvotes == up
