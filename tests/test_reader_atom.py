"""arXiv API Atom reader."""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.readers import read_papers, read_text
from kgraph.readers.fields import one_line
from kgraph.records import title_key

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FEED = FIXTURES / "arxiv_query.xml"
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">\n'
    "  <title>arXiv Query: test</title>\n"
)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def entry(title: str, summary: str, extra: str = "") -> str:
    return (
        f"  <entry>\n    <title>{title}</title>\n    <summary>{summary}</summary>{extra}\n"
        "  </entry>\n"
    )


def test_arxiv_query_response() -> None:
    path = str(FEED)
    result = read_papers([path])
    assert result.problems == []
    assert len(result.papers) == 3  # the feed's own <title> is not a paper
    attention, lora, sensors = result.papers

    assert attention.title == "Attention Is All You Need"
    assert attention.id == attention.arxiv_id == "1706.03762"  # version dropped
    assert attention.abstract.startswith(
        "The dominant sequence transduction models are based on complex recurrent or "
        "convolutional neural networks"  # the line break after "or" became one space
    )
    assert attention.abstract.endswith("including ensembles by over 2 BLEU.")
    assert "\n" not in attention.abstract and "  " not in attention.abstract
    assert attention.published == "2017-06-12"
    assert attention.authors[:2] == ("Ashish Vaswani", "Noam Shazeer")
    assert attention.authors_count == 8
    assert attention.urls == ()  # abs and pdf links are the paper, not code
    assert attention.sources == (f"{path}:10",)

    assert lora.arxiv_id == "2106.09685"
    assert lora.urls == ("https://github.com/microsoft/LoRA",)  # from arxiv:comment, "." off
    assert lora.published == "2021-06-17"
    assert lora.authors[-1] == "Weizhu Chen"
    assert lora.sources == (f"{path}:56",)

    assert sensors.title == (
        "Industrial-Grade Sensor Simulation via Gaussian Splatting: A Modular Framework for "
        "Scalable Editing and Full-Stack Validation"
    )
    assert sensors.abstract.endswith(
        "to address these challenges & achieve a $2.7\\times$ speed-up over NeRF <on average>."
    )
    assert sensors.urls == ("https://example.org/gs-sim", "https://github.com/example/gs-sim")
    assert sensors.sources == (f"{path}:102",)


def test_sniffed_without_extension(tmp_path: Path) -> None:
    text = FEED.read_text("utf-8")
    expected = [p.title for p in read_papers([str(FEED)]).papers]
    assert [p.title for p in read_papers([write(tmp_path, "query", text)]).papers] == expected
    from_text = read_text(text)
    assert [p.title for p in from_text.papers] == expected
    assert from_text.papers[0].sources == ("<text>:10",)


def test_truncated_feed_keeps_the_entries_before_the_break(tmp_path: Path) -> None:
    lines = FEED.read_text("utf-8").splitlines(keepends=True)
    cut = "".join(lines[:60])  # in the middle of the second entry
    path = write(tmp_path, "cut.xml", cut)
    result = read_papers([path])
    assert [p.arxiv_id for p in result.papers] == ["1706.03762"]
    assert [str(p) for p in result.problems] == [
        f"{path}:60: malformed XML (no element found at the end of the file); "
        "kept the entries before it (1), skipped the rest"
    ]
    assert result.problems[0].kind == "malformed XML"


def test_mismatched_tag_names_its_line(tmp_path: Path) -> None:
    text = (
        HEAD
        + entry("First", "Kept.")
        + "  <entry>\n    <title>Second</title>\n    <summary>Broken.</sumary>\n  </entry>\n"
        + entry("Third", "Lost after the break.")
        + "</feed>\n"
    )
    path = write(tmp_path, "bad.xml", text)
    result = read_papers([path])
    assert [p.title for p in result.papers] == ["First"]
    assert [p.sources for p in result.papers] == [(f"{path}:4",)]
    assert [str(p) for p in result.problems] == [
        f"{path}:10: malformed XML (mismatched tag at column 23); "
        "kept the entries before it (1), skipped the rest"
    ]


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?>\n'
        "<!DOCTYPE lolz [\n"
        ' <!ENTITY lol "lol">\n'
        ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
        ' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n'
        "]>\n"
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol3;</title>'
        "<summary>x</summary></entry></feed>\n"
    )
    path = write(tmp_path, "bomb.xml", bomb)
    result = read_papers([path])
    assert result.papers == []
    assert [str(p) for p in result.problems] == [
        f"{path}:2: XML with a document type declaration (DOCTYPE) is refused: it can expand "
        "entities without bound; file skipped"
    ]
    assert result.problems[0].kind == "unsafe XML"


def test_external_entity_is_not_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET", encoding="utf-8")
    text = (
        f'<?xml version="1.0"?>\n<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title>'
        "<summary>x</summary></entry></feed>\n"
    )
    result = read_papers([write(tmp_path, "xxe.xml", text)])
    assert result.papers == []
    assert result.problems[0].kind == "unsafe XML"


def test_undefined_entity(tmp_path: Path) -> None:
    path = write(tmp_path, "e.xml", HEAD + entry("A &nbsp; title", "x") + "</feed>\n")
    result = read_papers([path])
    assert result.papers == []
    assert [str(p) for p in result.problems] == [
        f"{path}:5: malformed XML (undefined entity at column 14); "
        "kept the entries before it (0), skipped the rest"
    ]


def test_arxiv_api_error_entry(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  <entry>\n"
        "    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.5678v</id>\n"
        "    <title>Error</title>\n"
        "    <summary>incorrect id format for 1234.5678v</summary>\n"
        "  </entry>\n</feed>\n"
    )
    path = write(tmp_path, "err.xml", text)
    result = read_papers([path])
    assert result.papers == []
    assert [str(p) for p in result.problems] == [
        f"{path}:4: arXiv API error: incorrect id format for 1234.5678v"
    ]


def test_entries_without_title_or_summary(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  <entry><summary>No title.</summary></entry>\n"
        + "  <entry><title>No summary</title><published>2024-02-30T00:00:00Z</published></entry>\n"
        + "</feed>\n"
    )
    path = write(tmp_path, "t.xml", text)
    result = read_papers([path])
    assert [(p.title, p.abstract, p.published) for p in result.papers] == [("No summary", "", None)]
    assert [str(p) for p in result.problems] == [
        f"{path}:4: entry has no <title>, skipped",
        f"{path}:5: paper 'No summary' has no <summary>; read with its title only",
        f"{path}:5: <published> '2024-02-30T00:00:00Z' is not a date; ignored",
    ]


def test_not_an_atom_feed(tmp_path: Path) -> None:
    rss = "<rss><channel><item><title>x</title></item></channel></rss>\n"
    path = write(tmp_path, "rss.xml", rss)
    result = read_papers([path])
    assert result.papers == []
    assert [str(p) for p in result.problems] == [
        f"{path}: root element <rss> is not an Atom <feed> and holds no <entry>; nothing read"
    ]


def test_empty_feed_and_empty_file(tmp_path: Path) -> None:
    for name, text in (("empty.xml", HEAD + "</feed>\n"), ("blank.xml", "\n")):
        result = read_papers([write(tmp_path, name, text)])
        assert (result.papers, result.problems) == ([], [])


def test_feed_without_namespace_and_single_entry_document(tmp_path: Path) -> None:
    plain = (
        "<feed>\n<entry>\n<id>https://arxiv.org/abs/2401.00001v2</id>\n<title>Plain</title>\n"
        "<summary>s</summary><updated>2024-01-02T03:04:05Z</updated></entry>\n</feed>\n"
    )
    single = (
        '<entry xmlns="http://www.w3.org/2005/Atom">\n'
        '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Rich <b>title</b></div>'
        "</title>\n<content>Body text.</content>\n"
        '<link rel="alternate" href="http://arxiv.org/abs/2402.00002v1"/>\n</entry>\n'
    )
    result = read_papers([write(tmp_path, "plain.xml", plain), write(tmp_path, "one.atom", single)])
    assert result.problems == []
    assert [(p.title, p.abstract, p.arxiv_id, p.published) for p in result.papers] == [
        ("Plain", "s", "2401.00001", "2024-01-02"),
        ("Rich title", "Body text.", "2402.00002", None),
    ]


# --- round trip --------------------------------------------------------------------------------

# any character XML 1.0 allows, tab/newline/CR included; no other control characters
_chars = st.characters(blacklist_categories=("Cs", "Cc", "Cn"), whitelist_characters="\t\n\r")
_latex = st.sampled_from(["$\\text{G}^2$RPO", "$\\mathcal{O}(n^{2})$", "{BERT}", "a < b & c > d"])
_texts = st.lists(st.one_of(st.text(_chars, min_size=1, max_size=15), _latex), max_size=8).map(
    " \n  ".join
)
_papers = st.lists(
    st.tuples(_texts.filter(lambda t: bool(one_line(t))), _texts),
    min_size=1,
    max_size=4,
    unique_by=lambda t: title_key(one_line(t[0])),
)


@settings(max_examples=150, deadline=None)
@given(papers=_papers)
def test_round_trip(papers: list[tuple[str, str]]) -> None:
    body = "".join(entry(escape(title), escape(summary)) for title, summary in papers)
    result = read_text(HEAD + body + "</feed>\n", path="rt.xml")
    # documented normalisation: whitespace runs (arXiv's line wrapping) become one space
    assert [(p.title, p.abstract) for p in result.papers] == [
        (one_line(title), one_line(summary)) for title, summary in papers
    ]
    assert all(re.match(r"rt\.xml:\d+: paper .* has no <summary>", str(p)) for p in result.problems)


_TOKENS = [
    "<feed>", "</feed>", "<entry>", "</entry>", "<title>", "</title>", "<summary>",
    "</summary>", "&amp;", "&bad;", "<!DOCTYPE x>", "<", ">", "\n", "x",
]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(_TOKENS), max_size=40))
def test_arbitrary_input_never_raises(parts: list[str]) -> None:
    result = read_text("".join(parts), fmt="atom")
    assert all(p.title.strip() for p in result.papers)
