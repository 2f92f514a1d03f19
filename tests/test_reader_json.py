"""JSON and JSON Lines reader: our own records, the Hugging Face papers API, the corpus dumps."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.readers import read_papers, read_text
from kgraph.readers.fields import iso_date, split_names
from kgraph.readers.jsonrecords import MAX_LINE_MESSAGES
from kgraph.records import title_key

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SCHEMA = ROOT / "schemas" / "paper.schema.json"


def sample_pages() -> list[str]:
    """The saved Daily Papers pages shipped with the repo."""
    for folder in (ROOT / "graphs" / "pages", ROOT / "samples"):
        if folder.is_dir():
            return sorted(str(p) for p in folder.glob("*.txt"))
    return []


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- Hugging Face papers API -------------------------------------------------------------------


def test_hf_daily_papers_api() -> None:
    path = str(FIXTURES / "hf_api_daily.json")
    result = read_papers([path])
    assert result.problems == []
    assert [p.arxiv_id for p in result.papers] == ["2310.06825", "2310.11511", "2310.01889"]
    mistral, selfrag, ring = result.papers
    assert mistral.title == "Mistral 7B"
    assert mistral.id == "2310.06825"
    assert mistral.abstract.startswith("We introduce Mistral 7B v0.1, a 7-billion-parameter")
    assert mistral.abstract.endswith("coupled with sliding window attention (SWA).")
    assert mistral.authors == ("Albert Q. Jiang", "Alexandre Sablayrolles", "Arthur Mensch")
    assert mistral.authors_count == 3
    assert mistral.published == "2023-10-10"  # the paper's date, not the daily list's (10-11)
    assert mistral.upvotes == 60
    assert mistral.organization == "Mistral AI"  # organization.fullname
    assert mistral.urls == ()
    assert mistral.sources == (f"{path}:2",)
    # the inner title is wrapped ("through\n  Self-Reflection"): made one line
    assert selfrag.title == (
        "Self-RAG: Learning to Retrieve, Generate, and Critique through Self-Reflection"
    )
    assert selfrag.urls == ("https://github.com/AkariAsai/self-rag", "https://selfrag.github.io/")
    assert selfrag.sources == (f"{path}:25",)
    assert ring.published == "2023-10-03"
    assert ring.upvotes == 11
    assert ring.sources == (f"{path}:50",)


def test_hf_single_paper_api_object_over_many_lines() -> None:
    path = str(FIXTURES / "hf_api_paper.json")
    result = read_papers([path])
    assert result.problems == []
    (paper,) = result.papers
    assert paper.id == paper.arxiv_id == "2501.12948"
    assert paper.title == (
        "DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via Reinforcement Learning"
    )
    assert paper.abstract.startswith("We introduce our first-generation reasoning models")
    assert paper.authors == ("DeepSeek-AI", "Daya Guo", "Dejian Yang")
    assert paper.published == "2025-01-22"
    assert paper.upvotes == 389
    assert paper.organization == "DeepSeek"
    assert paper.urls == ("https://github.com/deepseek-ai/DeepSeek-R1",)
    assert paper.sources == (f"{path}:1",)


# --- the benchmark corpus ----------------------------------------------------------------------


def test_corpus_sample_gz() -> None:
    path = str(FIXTURES / "corpus_sample.jsonl.gz")
    result = read_papers([path])
    assert result.problems == []
    assert result.entries == 6
    papers = result.papers
    assert [p.sources for p in papers] == [(f"{path}:{n}",) for n in range(1, 7)]
    arxiv = papers[0]
    assert arxiv.arxiv_id == arxiv.id == "2503.11731"
    assert arxiv.title.startswith("Industrial-Grade Sensor Simulation via Gaussian Splatting")
    assert arxiv.published == "2025-03-18"  # date_file
    assert arxiv.abstract.startswith("Sensor simulation is pivotal for scalable validation")
    assert "\n" in arxiv.abstract  # abstracts are kept as written
    assert arxiv.urls == ()  # abs_url is the paper itself
    assert [p.arxiv_id for p in papers[:3]] == ["2503.11731", "2503.11742", "2503.11750"]
    flash = papers[3]
    assert flash.title == (
        "Flash3D: Feed-Forward Generalisable 3D Scene Reconstruction from a Single Image"
    )
    assert flash.arxiv_id is None  # "3dv2025:05T81ScPFb" is not an arXiv id
    assert flash.id.startswith("t-")
    assert flash.published is None  # "year": 2025 alone is not a date
    assert flash.urls == ()  # the OpenReview site is a landing page
    assert papers[5].title == (
        "What Regularized Auto-Encoders Learn from the Data Generating Distribution"
    )


# --- our own records ---------------------------------------------------------------------------


def test_own_records_read_back_unchanged_but_for_sources() -> None:
    path = str(FIXTURES / "papers.jsonl")
    raw = [json.loads(line) for line in (FIXTURES / "papers.jsonl").read_text("utf-8").splitlines()]
    result = read_papers([path])
    assert result.problems == []
    assert len(result.papers) == len(raw) == 4
    for n, (paper, record) in enumerate(zip(result.papers, raw, strict=True), 1):
        got = paper.to_dict()
        assert got["sources"] == [f"{path}:{n}"]
        assert {k: v for k, v in got.items() if k != "sources"} == {
            k: v for k, v in record.items() if k != "sources"
        }
    core = result.papers[1]
    assert core.published == "--03-11"
    assert core.authors == () and core.authors_count == 9
    assert core.organization == "Meta Research"
    latex = result.papers[2]
    assert latex.title.startswith('$\\text{G}^2$RPO: Grouped "Group" Relative')
    assert latex.abstract.endswith("\n\nA second paragraph, kept as written.")


def test_samples_written_as_jsonl_read_back(tmp_path: Path) -> None:
    samples = read_papers(sample_pages()).papers
    assert samples
    path = write(
        tmp_path, "export.jsonl", "".join(json.dumps(p.to_dict()) + "\n" for p in samples)
    )
    again = read_papers([path])
    assert again.problems == []
    assert [p.with_changes(sources=()) for p in again.papers] == [
        p.with_changes(sources=(), title=" ".join(p.title.split())) for p in samples
    ]


# --- other shapes and layouts ------------------------------------------------------------------


def test_alternate_fields(tmp_path: Path) -> None:
    lines = [
        {"title": "One", "summary": "S1", "authors": "Smith, John and Doe, Jane",
         "date": "2024-02-29"},
        {"title": "Two", "abstract": "S2", "authors": ["Ada Lovelace", {"name": "Alan Turing"}],
         "publishedAt": "2024-01-05T23:59:59-08:00", "url": "https://arxiv.org/abs/2401.00001v3",
         "urls": ["https://github.com/a/b", "https://github.com/a/b"], "extra": {"x": 1}},
        {"title": "Three", "abstract": "S3", "authors": "A. One; B. Two",
         "arxiv_id": "cs/0112017v1",
         "organization": {"name": "hf"}, "upvotes": "7"},
        {"title": "Four", "abstract": "S4", "author": "Alpha Beta, Gamma Delta, and Eps Zeta"},
    ]
    path = write(tmp_path, "alt.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n")
    result = read_papers([path])
    assert result.problems == []
    one, two, three, four = result.papers
    assert one.abstract == "S1"
    assert one.authors == ("John Smith", "Jane Doe")
    assert one.published == "2024-02-29"
    assert two.authors == ("Ada Lovelace", "Alan Turing")
    assert two.published == "2024-01-05"  # the date as written, no time-zone shift
    assert two.arxiv_id == "2401.00001"
    assert two.urls == ("https://github.com/a/b",)
    assert three.authors == ("A. One", "B. Two")
    assert three.arxiv_id == three.id == "cs/0112017"
    assert three.organization == "hf"
    assert three.upvotes == 7
    assert four.authors == ("Alpha Beta", "Gamma Delta", "Eps Zeta")


def test_pretty_printed_records_one_after_another(tmp_path: Path) -> None:
    records = [{"title": "First", "abstract": "a"}, {"title": "Second", "abstract": "b"}]
    text = "\n".join(json.dumps(r, indent=2) for r in records) + "\n"
    path = write(tmp_path, "pretty.json", text)
    result = read_papers([path])
    assert result.problems == []
    assert [(p.title, p.sources) for p in result.papers] == [
        ("First", (f"{path}:1",)),
        ("Second", (f"{path}:5",)),
    ]


def test_wrapped_list(tmp_path: Path) -> None:
    text = (
        '{"total": 2,\n "data": [\n'
        '  {"title": "W1", "abstract": "a"},\n'
        '  {"title": "W2", "abstract": "b"}\n'
        " ]\n}\n"
    )
    path = write(tmp_path, "wrapped.json", text)
    result = read_papers([path])
    assert result.problems == []
    assert [(p.title, p.sources) for p in result.papers] == [
        ("W1", (f"{path}:3",)),
        ("W2", (f"{path}:4",)),
    ]


def test_empty_array_and_empty_file(tmp_path: Path) -> None:
    for name, text in (("empty.json", "[]\n"), ("blank.jsonl", "\n\n")):
        result = read_papers([write(tmp_path, name, text)])
        assert (result.papers, result.problems) == ([], [])


# --- bad input ---------------------------------------------------------------------------------


def test_invalid_json_line_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    text = (
        '{"title": "Good one", "abstract": "a"}\n'
        '\n'
        '{"title": "Bad" "abstract": "x"}\n'
        '{"title": "Good two", "abstract": "b"}\n'
    )
    path = write(tmp_path, "p.jsonl", text)
    result = read_papers([path])
    assert [p.title for p in result.papers] == ["Good one", "Good two"]
    assert result.papers[1].sources == (f"{path}:4",)
    assert [str(p) for p in result.problems] == [
        f"{path}:3: invalid JSON (Expecting ',' delimiter at column 17), record skipped"
    ]
    assert result.problems[0].kind == "invalid JSON"
    assert result.problems[0].skipped


def test_bad_first_line_of_json_lines(tmp_path: Path) -> None:
    text = '{"title": "Cut off", "abs\n' + "".join(
        json.dumps({"title": f"T{i}", "abstract": "a"}) + "\n" for i in range(3)
    )
    path = write(tmp_path, "p.jsonl", text)
    result = read_papers([path])
    assert [p.title for p in result.papers] == ["T0", "T1", "T2"]
    assert [str(p) for p in result.problems] == [
        f"{path}:1: invalid JSON (Unterminated string starting at column 22), record skipped"
    ]


def test_records_that_are_not_papers(tmp_path: Path) -> None:
    text = (
        '"just a string"\n'
        '[1, 2]\n'
        '{"name": "no title here", "summary": "s"}\n'
        '{"title": 42, "abstract": "a"}\n'
        '{"title": "   ", "abstract": "a"}\n'
        '{"title": "Kept", "abstract": "a"}\n'
    )
    path = write(tmp_path, "p.jsonl", text)
    result = read_papers([path])
    assert [p.title for p in result.papers] == ["Kept"]
    assert [str(p) for p in result.problems] == [
        f"{path}:1: a JSON string is not a paper record (expected an object), skipped",
        f"{path}:2: a JSON array is not a paper record (expected an object), skipped",
        f"{path}:3: record has no title (fields: name, summary), skipped",
        f"{path}:4: title is a JSON number, not text; record skipped",
        f"{path}:5: record has an empty title, skipped",
    ]
    assert {p.kind for p in result.problems} == {"not an object", "no title"}


def test_error_inside_a_document_keeps_the_records_before_it(tmp_path: Path) -> None:
    text = (
        "[\n"
        '  {"title": "R1", "abstract": "a"},\n'
        '  {"title": "R2", "abstract": "b"},\n'
        '  {"title": "R3",\n'
        '   "abstract": "c" "upvotes": 3},\n'
        '  {"title": "R4", "abstract": "d"}\n'
        "]\n"
    )
    path = write(tmp_path, "doc.json", text)
    result = read_papers([path])
    assert [p.title for p in result.papers] == ["R1", "R2"]
    assert [str(p) for p in result.problems] == [
        f"{path}:5: invalid JSON (Expecting ',' delimiter at column 20); "
        "the record starting at line 4 and all after it skipped"
    ]


def test_missing_abstract_and_bad_fields_are_warnings(tmp_path: Path) -> None:
    text = (
        '{"title": "No abstract"}\n'
        '{"title": "Odd fields", "abstract": "a", "upvotes": "many", "published": "Oct 9",'
        ' "authors": 5, "arxiv_id": "not-an-id"}\n'
        '{"title": "A year", "abstract": "a", "published": 2023}\n'
    )
    path = write(tmp_path, "p.jsonl", text)
    result = read_papers([path])
    no_abstract, odd, year = result.papers
    assert no_abstract.abstract == ""
    assert (odd.upvotes, odd.published, odd.authors, odd.arxiv_id) == (None, None, (), None)
    assert year.published is None
    assert [str(p) for p in result.problems] == [
        f"{path}:1: paper 'No abstract' has no abstract; read with its title only",
        f'{path}:2: arxiv_id "not-an-id" is not an arXiv id; ignored',
        f"{path}:2: authors 5 is not a list of names; ignored",
        f'{path}:2: published "Oct 9" is not a date (YYYY-MM-DD); ignored',
        f'{path}:2: upvotes "many" is not a whole number; ignored',
    ]
    assert not any(p.skipped for p in result.problems)


def test_lone_surrogates_are_read_as_replacement_characters(tmp_path: Path) -> None:
    """A \\ud800 escape without its pair is no character (no UTF-8 file can hold it: a build
    of such a record failed with an internal error). It is read as U+FFFD with a warning; a
    pair (an emoji) is one character, kept. Lines and whole documents alike."""
    lines = (
        '{"title": "Half \\ud83d emoji", "abstract": "We propose FooNet \\udc00 and \\ud800.",'
        ' "authors": ["A \\udfff B"]}\n'
        '{"title": "Whole \\ud83d\\ude00 emoji", "abstract": "Fine."}\n'
    )
    for name, text in (("p.jsonl", lines), ("p.json", "[" + lines.replace("}\n{", "},{") + "]")):
        path = write(tmp_path, name, text)
        result = read_papers([path])
        half, whole = result.papers
        assert half.title == "Half \ufffd emoji"
        assert half.abstract == "We propose FooNet \ufffd and \ufffd."
        assert half.authors == ("A \ufffd B",)
        assert whole.title == "Whole \U0001f600 emoji"
        assert [str(p) for p in result.problems] == [
            f"{path}:1: 4 \\uD800-\\uDFFF escapes without their pair (no character) read as"
            " U+FFFD"
        ]
        assert result.problems[0].kind == "lone surrogate" and not result.problems[0].skipped


def test_a_build_of_a_record_with_a_lone_surrogate(tmp_path: Path) -> None:
    from kgraph.bundle import build

    path = write(
        tmp_path, "p.jsonl", '{"title": "T", "abstract": "We propose FooNet \\ud800 on X."}\n'
    )
    report = build(tmp_path / "b", [path], nlp=None)
    assert len(report.added) == 1
    papers = (tmp_path / "b" / "papers.jsonl").read_text(encoding="utf-8")
    assert "FooNet \ufffd on X." in json.loads(papers)["abstract"]


def test_titles_without_letters_or_digits_stay_distinct_papers(tmp_path: Path) -> None:
    """Titles are compared without case, punctuation and LaTeX commands; a title made of none
    but those (emoji, a formula alone) keyed as the empty string, so distinct such papers all
    merged into one and their abstracts were lost."""
    rows = [
        {"title": "\U0001f999\U0001f999", "abstract": "Emoji title."},
        {"title": "$\\mathcal{L}$", "abstract": "A formula."},
        {"title": "$\\alpha$", "abstract": "Another formula."},
        {"title": "\u200b", "abstract": "Invisible."},
        {"title": " \U0001f999\U0001f999 ", "abstract": "The emoji paper again, longer."},
        {"title": "A Normal Title", "abstract": "a"},
        {"title": "a normal title!", "abstract": "b"},
    ]
    path = write(tmp_path, "p.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    result = read_papers([path])
    assert [p.abstract for p in result.papers] == [
        "The emoji paper again, longer.",
        "A formula.",
        "Another formula.",
        "Invisible.",
        "a",
    ]
    assert len({p.id for p in result.papers}) == 5
    assert title_key("A Normal Title") == title_key("a normal title!") == "anormaltitle"


def test_many_bad_lines_are_summed_up(tmp_path: Path) -> None:
    bad = MAX_LINE_MESSAGES + 5
    text = '{"title": "Real", "abstract": "a"}\n' + "not json\n" * bad
    path = write(tmp_path, "p.jsonl", text)
    result = read_papers([path])
    assert [p.title for p in result.papers] == ["Real"]
    assert len(result.problems) == MAX_LINE_MESSAGES + 1
    assert str(result.problems[-1]) == (
        f"{path}:{MAX_LINE_MESSAGES + 2}: 5 more lines of invalid JSON from here on, skipped"
    )


# --- format sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["papers.jsonl", "hf_api_daily.json", "hf_api_paper.json"])
def test_sniffed_without_extension(tmp_path: Path, fixture: str) -> None:
    text = (FIXTURES / fixture).read_text("utf-8")
    expected = [
        (p.title, p.sources[0].rsplit(":", 1)[1])
        for p in read_papers([str(FIXTURES / fixture)]).papers
    ]
    plain = write(tmp_path, "papers", text)
    assert [(p.title, p.sources) for p in read_papers([plain]).papers] == [
        (title, (f"{plain}:{line}",)) for title, line in expected
    ]
    assert [(p.title, p.sources) for p in read_text(text).papers] == [
        (title, (f"<text>:{line}",)) for title, line in expected
    ]


# --- schema ------------------------------------------------------------------------------------


def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_sample_pages_match_the_schema() -> None:
    validator = _validator()
    papers = read_papers(sample_pages()).papers
    assert papers
    for paper in papers:
        errors = [e.message for e in validator.iter_errors(paper.to_dict())]
        assert errors == [], paper.title


def test_every_fixture_reads_into_schema_valid_records() -> None:
    validator = _validator()
    inputs = sorted(str(p) for p in FIXTURES.iterdir() if p.is_file())
    papers = read_papers(inputs).papers
    assert len(papers) >= 20
    for paper in papers:
        errors = [e.message for e in validator.iter_errors(paper.to_dict())]
        assert errors == [], paper.title


def test_schema_rejects_what_is_not_a_record() -> None:
    validator = _validator()
    good = {"title": "T", "abstract": ""}
    assert validator.is_valid(good)
    for bad in (
        {"title": "T"},
        {"title": "", "abstract": ""},
        {**good, "published": "2023-13-01"},
        {**good, "published": "2023"},
        {**good, "id": "arxiv:2310.01234"},
        {**good, "arxiv_id": "2310.01234v2"},
        {**good, "upvotes": -1},
        {**good, "sources": ["no-line-number"]},
        {**good, "unknown": 1},
    ):
        assert not validator.is_valid(bad), bad


# --- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Smith, John and Doe, Jane", ["John Smith", "Jane Doe"]),
        ("John Smith and Jane Doe", ["John Smith", "Jane Doe"]),
        ("John Smith; Doe, Jane", ["John Smith", "Jane Doe"]),
        ("Smith, J.", ["J. Smith"]),
        ("John Smith, Jane Doe", ["John Smith", "Jane Doe"]),
        ("A B, C D, and E F", ["A B", "C D", "E F"]),
        ("Sandra Anderson", ["Sandra Anderson"]),
        ("  ", []),
    ],
)
def test_split_names(text: str, names: list[str]) -> None:
    assert split_names(text) == names


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("2023-10-02", "2023-10-02"),
        ("2023-10-02T00:00:00.000Z", "2023-10-02"),
        ("2003-07-07T13:46:39-04:00", "2003-07-07"),
        ("--02-29", "--02-29"),
        ("--02-30", None),
        ("2023-02-30", None),
        ("2023", None),
        ("2023-10", None),
        ("Oct 9, 2025", None),
    ],
)
def test_iso_date(value: str, date: str | None) -> None:
    assert iso_date(value) == date


# --- round trip --------------------------------------------------------------------------------

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_words = st.text(_chars, min_size=1, max_size=12)
_latex = st.sampled_from(["$\\text{G}^2$", "$\\mathcal{O}(n^{2})$", "{BERT}", "\\emph{x}", '"q"'])
_titles = st.lists(st.one_of(_words, _latex), min_size=1, max_size=8).map(
    lambda parts: " ".join(" ".join(parts).split())
).filter(bool)
_abstracts = st.text(_chars, max_size=200).map(str.strip)
_names = st.lists(
    st.text(st.characters(categories=("L",)), min_size=1, max_size=10), min_size=2, max_size=3
).map(" ".join)
_papers = st.lists(
    st.tuples(_titles, _abstracts, st.lists(_names, max_size=3)),
    min_size=1,
    max_size=5,
    unique_by=lambda t: title_key(t[0]),
)


@settings(max_examples=150, deadline=None)
@given(papers=_papers, document=st.booleans(), ascii_only=st.booleans())
def test_round_trip(
    papers: list[tuple[str, str, list[str]]], document: bool, ascii_only: bool
) -> None:
    records = [{"title": t, "abstract": a, "authors": names} for t, a, names in papers]
    if document:
        text = json.dumps(records, indent=1, ensure_ascii=ascii_only) + "\n"
    else:
        text = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records)
    result = read_text(text, path="rt.json")
    assert [(p.title, p.abstract, list(p.authors)) for p in result.papers] == [
        (t, a, names) for t, a, names in papers
    ]
    if not document:
        assert [p.sources for p in result.papers] == [
            (f"rt.json:{n}",) for n in range(1, len(papers) + 1)
        ]
    assert all(p.skipped is False for p in result.problems)  # only "no abstract" warnings
    assert all(re.match(r"rt\.json:\d+: paper .* has no abstract", str(p)) for p in result.problems)


_TOKENS = [
    "{", "}", "[", "]", '"', ",", ":", "\n", " ", '"title"', '"abstract"', '"paper"', "1",
    "null", "x",
]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(_TOKENS), max_size=40))
def test_arbitrary_input_never_raises(parts: list[str]) -> None:
    result = read_text("".join(parts), fmt="json")
    assert all(p.title.strip() for p in result.papers)
