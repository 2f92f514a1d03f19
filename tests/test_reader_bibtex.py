"""BibTeX reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.readers import read_papers, read_text
from kgraph.readers.bibtex import authors, unbrace
from kgraph.readers.fields import one_line
from kgraph.records import title_key

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BIB = FIXTURES / "papers.bib"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_bib_file() -> None:
    path = str(BIB)
    result = read_papers([path])
    assert [p.title for p in result.papers] == [
        "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        "$\\text{G}^2$RPO: Granular GRPO for Precise Reward in Flow Models",
        "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer",
        "Denoising Diffusion Probabilistic Models",
    ]
    bert, g2rpo, t5, ddpm = result.papers

    assert bert.arxiv_id == bert.id == "1810.04805"  # from "arXiv preprint arXiv:1810.04805"
    assert bert.authors == ("Jacob Devlin", "Ming-Wei Chang", "Kenton Lee", "Kristina Toutanova")
    assert bert.published is None  # year and month only
    assert bert.abstract.startswith("We introduce a new language representation model called BERT,")
    assert bert.abstract.endswith("GLUE score to 80.5\\% (7.7\\% point absolute improvement).")
    assert bert.sources == (f"{path}:5",)

    assert g2rpo.arxiv_id == "2510.01982"  # eprint, version dropped
    assert g2rpo.published == "2025-10-09"  # date field
    assert g2rpo.authors == ("Yujie Zhou", "Pengyang Ling", 'Zo\\"e M\\"uller')
    assert g2rpo.urls == ("https://github.com/bcmi/Granular-GRPO",)
    assert g2rpo.abstract == (
        "The integration of online reinforcement learning (RL) into diffusion and flow models "
        "has recently emerged as a promising approach; we measure it with "
        "$\\mathcal{O}(n^{2})$ cost and the \\textsc{GenEval} benchmark."
    )
    assert g2rpo.sources == (f"{path}:20",)

    assert t5.arxiv_id == "1910.10683"  # from the arXiv DOI
    assert t5.published == "2019-10-23"  # year + month + day
    assert t5.abstract == ""
    assert t5.authors == ("Colin Raffel", "Noam Shazeer", "Adam Roberts")  # "others" dropped

    assert ddpm.arxiv_id == "2006.11239"  # from the arXiv url
    assert ddpm.urls == ()
    assert ddpm.sources == (f"{path}:52",)

    assert [(str(p), p.kind, p.skipped) for p in result.problems] == [
        (
            f"{path}:36: entry 'raffel2020t5' ('Exploring the Limits of Transfer Learning with a "
            "Unified Te…') has no abstract; read with its title only",
            "no abstract",
            False,
        ),
        (
            f"{path}:46: entry 'broken2024': unbalanced braces: field 'title' opened at line 47 "
            "is not closed before the next entry at line 52; skipped",
            "unbalanced braces",
            True,
        ),
        (f"{path}:61: entry 'notitle2023' has no title, skipped", "no title", True),
    ]


def test_sniffed_without_extension(tmp_path: Path) -> None:
    text = BIB.read_text("utf-8")
    expected = [p.title for p in read_papers([str(BIB)]).papers]
    assert [p.title for p in read_papers([write(tmp_path, "refs", text)]).papers] == expected
    assert [p.title for p in read_text(text).papers] == expected
    starts_with_entry = text[text.index("@article") :]
    assert [p.title for p in read_text(starts_with_entry).papers] == expected


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("{BERT}: Pre-training", "BERT: Pre-training"),
        ("{{BERT}: Pre-training}", "BERT: Pre-training"),
        ("{$\\text{G}^2$RPO}", "$\\text{G}^2$RPO"),
        ("The {\\em Best} of {T5}", "The \\em Best of T5"),
        ("\\textbf{{Bold}} move", "\\textbf{{Bold}} move"),
        ("G{\\\"o}del and \\'{e}t\\'{e}", "G\\\"odel and \\'{e}t\\'{e}"),
        ("$x_{1}^{2}$ and a_{b}", "$x_{1}^{2}$ and a_{b}"),
        ("50\\% of \\{braces\\}", "50\\% of \\{braces\\}"),
        ("plain", "plain"),
    ],
)
def test_unbrace(raw: str, text: str) -> None:
    assert unbrace(raw) == text


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("Vaswani, Ashish and Noam Shazeer", ["Ashish Vaswani", "Noam Shazeer"]),
        ("King, Jr, Martin Luther", ["Martin Luther King Jr"]),
        ("{Google Brain, Team} and Le, Quoc V.", ["Google Brain, Team", "Quoc V. Le"]),
        ("{Barnes and Noble} AND Smith, J.", ["Barnes and Noble", "J. Smith"]),
        ("A. Author and others", ["A. Author"]),
        ("Ludwig van Beethoven", ["Ludwig van Beethoven"]),
        ("", []),
    ],
)
def test_authors(value: str, names: list[str]) -> None:
    assert authors(value) == names


def test_syntax_features(tmp_path: Path) -> None:
    text = (
        '@STRING(conf = "Proc. of ")\n'
        "@preamble{ \"\\newcommand{\\noop}[1]{}\" }\n"
        "@Comment this line is a comment too\n"
        "@InProceedings(paren2024,\n"
        '  Title = conf # "the " # {{ACL}} # " Day",\n'
        '  ABSTRACT = "Quoted with {"}inner quotes{"} and {braces}.",\n'
        "  % a comment line between fields\n"
        "  year = 2024, month = feb, day = 29\n"
        ")\n"
        "@misc{nokey2024, title={Number as value}, abstract = 2024}\n"
        "@misc{title = {An entry with no key}, abstract = {It has none.}}\n"
    )
    path = write(tmp_path, "s.bib", text)
    result = read_papers([path])
    assert result.problems == []
    assert [(p.title, p.abstract, p.published, p.sources) for p in result.papers] == [
        (
            "Proc. of the ACL Day",
            'Quoted with "inner quotes" and braces.',
            "2024-02-29",
            (f"{path}:4",),
        ),
        ("Number as value", "2024", None, (f"{path}:10",)),
        ("An entry with no key", "It has none.", None, (f"{path}:11",)),
    ]


def test_errors_skip_one_entry_and_go_on(tmp_path: Path) -> None:
    text = (
        "@article{unclosed,\n"
        "  title = {Never closed},\n"
        "  abstract = {x}\n"
        "\n"
        "@article{good1, title = {Good one}, abstract = {a}}\n"
        "@article{extra, title = {Closed early}}, abstract = {lost}}\n"
        "@article{nofield, title = {T} abstract = {b}}\n"
        "@article{macro, title = {Macro}, journal = nosuchmacro, abstract = {c}}\n"
        "@article{good2, title = {Good two}, abstract = {d}, title = {Again}}\n"
        "@article{eof, title = {Cut off at the end\n"
    )
    path = write(tmp_path, "e.bib", text)
    result = read_papers([path])
    assert [(p.title, p.abstract) for p in result.papers] == [
        ("Good one", "a"),
        ("Closed early", ""),
        ("Macro", "c"),
        ("Good two", "d"),
    ]
    assert [str(p) for p in result.problems] == [
        f"{path}:1: entry 'unclosed': the entry is not closed with '}}' before the next entry "
        "at line 5; skipped",
        f"{path}:6: text after the end of entry 'extra' looks like more fields (an extra '}}' "
        "closed the entry early?); ignored",
        f"{path}:6: entry 'extra' ('Closed early') has no abstract; read with its title only",
        f"{path}:7: entry 'nofield': expected ',' or '}}' after field 'title' at line 7, "
        "found 'a'; skipped",
        f"{path}:8: undefined macro 'nosuchmacro' in field 'journal' of entry 'macro'; "
        "read as empty",
        f"{path}:9: entry 'good2' has field 'title' twice; the first is kept",
        f"{path}:10: entry 'eof': unbalanced braces: field 'title' opened at line 10 is never "
        "closed; skipped",
    ]


def test_email_at_sign_outside_entries_is_not_an_entry(tmp_path: Path) -> None:
    text = "Maintained by someone@example.org\n@misc{a, title = {Real}, abstract = {x}}\n"
    result = read_papers([write(tmp_path, "m.bib", text)])
    assert [p.title for p in result.papers] == ["Real"]
    assert result.problems == []


# --- round trip --------------------------------------------------------------------------------

# text BibTeX carries as written inside braces: no braces, backslashes or dollars of its own
# (those come from the LaTeX pieces below, balanced); single spaces, as BibTeX reads whitespace
_plain = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}\\$"),
    min_size=1,
    max_size=12,
)
_latex = st.sampled_from(
    [
        "$\\text{G}^2$RPO",
        "$\\mathcal{O}(n^{2})$",
        "\\textbf{bold}",
        "\\emph{x, y}",
        '"quoted"',
        "a # b",
        "50\\%",
        "\\'{e}",
        "x_1",
    ]
)
_texts = st.lists(st.one_of(_plain, _latex), min_size=1, max_size=8).map(
    lambda parts: one_line(" ".join(parts))
)
_word = st.text(st.characters(categories=("L",)), min_size=1, max_size=8).filter(
    lambda w: w.lower() not in ("and", "others")
)
_name = st.tuples(_word, _word)
_papers = st.lists(
    st.tuples(_texts.filter(bool), _texts, st.lists(_name, max_size=3)),
    min_size=1,
    max_size=4,
    unique_by=lambda t: title_key(t[0]),
)


def bib_entry(
    key: str, title: str, abstract: str, names: list[tuple[str, str]], comma: bool
) -> str:
    written = [f"{last}, {first}" if comma else f"{first} {last}" for first, last in names]
    return (
        f"@article{{{key},\n"
        f"  title = {{{title}}},\n"
        f"  author = {{{' and '.join(written)}}},\n"
        f"  abstract = {{{abstract}}},\n"
        "}\n\n"
    )


@settings(max_examples=150, deadline=None)
@given(papers=_papers, comma=st.booleans())
def test_round_trip(papers: list[tuple[str, str, list[tuple[str, str]]]], comma: bool) -> None:
    text = "".join(
        bib_entry(f"k{i}", t, a, names, comma) for i, (t, a, names) in enumerate(papers)
    )
    result = read_text(text, path="rt.bib")
    assert [(p.title, p.abstract, p.authors) for p in result.papers] == [
        (t, a, tuple(f"{first} {last}" for first, last in names)) for t, a, names in papers
    ]
    assert all(not p.skipped for p in result.problems)


_TOKENS = [
    "@article{", "@string{", "@comment{", "{", "}", '"', "#", ",", "=", "title", "abstract",
    "and", "%", "\\", "$", "\n", "x",
]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(_TOKENS), max_size=40))
def test_arbitrary_input_never_raises(parts: list[str]) -> None:
    result = read_text("".join(parts), fmt="bibtex")
    assert all(p.title.strip() for p in result.papers)
