"""CSV / TSV reader."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.readers import read_papers, read_text
from kgraph.readers.base import short
from kgraph.readers.csvfile import sniff_delimiter
from kgraph.records import title_key

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CSV = FIXTURES / "papers.csv"
TSV = FIXTURES / "papers.tsv"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_file() -> None:
    path = str(CSV)
    result = read_papers([path])
    assert [p.title for p in result.papers] == [
        "Attention Is All You Need",
        "Mistral 7B",
        "$\\text{G}^2$RPO: Granular GRPO, for Flow Models",
        "Self-RAG: Learning to Retrieve, Generate, and Critique through Self-Reflection",
    ]
    attention, mistral, g2rpo, selfrag = result.papers

    # a quoted abstract over two lines; the next record starts two lines later
    assert attention.abstract == (
        "The dominant sequence transduction models are based on complex recurrent or "
        "convolutional neural networks.\nWe propose a new simple network architecture, the "
        "Transformer, based solely on attention mechanisms."
    )
    assert attention.sources == (f"{path}:2",)
    assert mistral.sources == (f"{path}:4",)
    assert attention.arxiv_id == attention.id == "1706.03762"
    assert attention.authors == ("Ashish Vaswani", "Noam Shazeer", "Niki Parmar")
    assert attention.published == "2017-06-12"
    assert attention.upvotes == 120

    assert mistral.abstract.endswith('it uses "grouped-query attention" (GQA).')
    assert mistral.authors == ("Albert Q. Jiang", "Alexandre Sablayrolles")
    assert mistral.arxiv_id == "2310.06825"
    assert mistral.published == "2023-10-10"
    assert mistral.urls == ("https://github.com/mistralai/mistral-src",)

    assert g2rpo.authors == ()
    assert g2rpo.published == "--10-09"
    assert g2rpo.arxiv_id == "2510.01982"  # from the arXiv link in the URL cell
    assert g2rpo.urls == ("https://github.com/bcmi/Granular-GRPO",)
    assert g2rpo.upvotes is None

    assert selfrag.sources == (f"{path}:8",)
    assert [(str(p), p.kind) for p in result.problems] == [
        (f"{path}:6: row has 8 fields, the header has 7; skipped", "wrong field count"),
        (f"{path}:7: row has an empty title, skipped", "no title"),
    ]


def test_tsv_file() -> None:
    path = str(TSV)
    result = read_papers([path])
    assert result.problems == []
    ddpm, flash, loop = result.papers
    assert ddpm.arxiv_id == "2006.11239"
    assert ddpm.authors == ("Jonathan Ho", "Ajay Jain", "Pieter Abbeel")
    assert ddpm.published == "2020-06-19"
    # a quoted cell holding a tab and doubled quotes
    assert flash.abstract == (
        'In this paper, we propose Flash3D, a method for scene reconstruction;\tit is "fast".'
    )
    assert flash.arxiv_id is None  # "3dv2025:05T81ScPFb" is not an arXiv id
    assert flash.published is None  # a year alone
    assert flash.authors == ("Chuanxia Zheng", "Andrea Vedaldi")
    assert loop.sources == (f"{path}:4",)


@pytest.mark.parametrize("fixture", [CSV, TSV])
def test_sniffed_without_extension(tmp_path: Path, fixture: Path) -> None:
    text = fixture.read_text("utf-8")
    expected = [p.title for p in read_papers([str(fixture)]).papers]
    assert [p.title for p in read_papers([write(tmp_path, "table", text)]).papers] == expected
    assert [p.title for p in read_text(text).papers] == expected


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("title,abstract", ","),
        ("title\tabstract", "\t"),
        ("title;abstract;authors", ";"),
        ('"title;x",abstract', ","),
        ("title", ","),
    ],
)
def test_sniff_delimiter(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header) == delimiter


def test_semicolons_and_odd_headers(tmp_path: Path) -> None:
    text = (
        "\n"
        "\ufeffPaper Title;Summary;Author;arxiv-id;Date;Upvotes\n"
        "A paper;Its summary;Doe, Jane;arXiv:2401.00001v1;2024-01-05;x\n"
        ";;;;;\n"
        "Second;S2;Ann Lee and Bo Chen;;Jan 5;\n"
    )
    path = write(tmp_path, "semi.csv", text)
    result = read_papers([path])
    got = [
        (p.title, p.abstract, p.authors, p.arxiv_id, p.published, p.sources)
        for p in result.papers
    ]
    assert got == [
        ("A paper", "Its summary", ("Jane Doe",), "2401.00001", "2024-01-05", (f"{path}:3",)),
        ("Second", "S2", ("Ann Lee", "Bo Chen"), None, None, (f"{path}:5",)),
    ]
    assert [str(p) for p in result.problems] == [
        f"{path}:3: upvotes 'x' is not a whole number; ignored",
        f"{path}:5: published 'Jan 5' is not a date (YYYY-MM-DD); ignored",
    ]


def test_no_title_column(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "name,Abstract,authors\nA,b,c\n")
    result = read_papers([path])
    assert result.papers == []
    assert [str(p) for p in result.problems] == [
        f"{path}:1: header has no title column (columns: 'name', 'abstract', 'authors'); "
        "nothing read"
    ]
    assert result.problems[0].kind == "no title column"


def test_no_abstract_column(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "title,year\nOnly a title,2020\n")
    result = read_papers([path])
    assert [(p.title, p.abstract) for p in result.papers] == [("Only a title", "")]
    assert [str(p) for p in result.problems] == [
        f"{path}:1: header has no abstract or summary column (columns: 'title', 'year'); "
        "papers read with titles only"
    ]
    assert not result.problems[0].skipped


def test_unclosed_quote(tmp_path: Path) -> None:
    text = 'title,abstract\nGood,one\n"Unclosed,abstract\nNext,row\nLast,row\n'
    path = write(tmp_path, "q.csv", text)
    result = read_papers([path])
    assert [p.title for p in result.papers] == ["Good"]
    assert [str(p) for p in result.problems] == [
        f"{path}:3: row has 1 field, the header has 2 (it spans lines 3-5: an unclosed quote?); "
        "skipped"
    ]


def test_header_only_and_empty(tmp_path: Path) -> None:
    for name, text in (("h.csv", "title,abstract\n"), ("e.csv", ""), ("b.tsv", "\n\n")):
        result = read_papers([write(tmp_path, name, text)])
        assert (result.papers, result.problems) == ([], [])


# --- round trip --------------------------------------------------------------------------------

# anything but NUL and CR (CR LF line ends are made LF before a reader sees them)
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r")
_latex = st.sampled_from(["$\\text{G}^2$", "{BERT}", '"q", r', "a\tb", "x;y"])
_titles = (
    st.lists(st.one_of(st.text(_chars, min_size=1, max_size=12), _latex), min_size=1, max_size=8)
    .map(lambda parts: " ".join(" ".join(parts).split()))
    .filter(bool)
)
_abstracts = st.text(_chars, max_size=200).map(str.strip)
_names = st.lists(
    st.text(st.characters(categories=("L",)), min_size=1, max_size=8).filter(
        lambda w: w.lower() != "and"
    ),
    min_size=2,
    max_size=3,
).map(" ".join)
_papers = st.lists(
    st.tuples(_titles, _abstracts, st.lists(_names, max_size=3)),
    min_size=1,
    max_size=5,
    unique_by=lambda t: title_key(t[0]),
)


@settings(max_examples=150, deadline=None)
@given(papers=_papers, delimiter=st.sampled_from([",", "\t", ";"]))
def test_round_trip(papers: list[tuple[str, str, list[str]]], delimiter: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["title", "abstract", "authors"])
    for title, abstract, names in papers:
        writer.writerow([title, abstract, "; ".join(names)])
    result = read_text(out.getvalue(), path="rt.csv")
    assert [(p.title, p.abstract, list(p.authors)) for p in result.papers] == [
        (t, a, names) for t, a, names in papers
    ]
    assert [str(p) for p in result.problems] == [
        f"rt.csv:{p.sources[0].rsplit(':', 1)[1]}: paper {short(p.title)!r} has no abstract; "
        "read with its title only"
        for p in result.papers
        if not p.abstract
    ]


_TOKENS = [
    ",", "\t", ";", '"', "\n", "title", "abstract", "authors", "x", " ",
]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(_TOKENS), max_size=40))
def test_arbitrary_input_never_raises(parts: list[str]) -> None:
    result = read_text("".join(parts), fmt="csv")
    assert all(p.title.strip() for p in result.papers)
