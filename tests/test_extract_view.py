"""The fast paths of the extraction pipeline give what the spaCy calls they replace give:
the shared token view, the sentencizer, the gazetteer ruler, URL search, token ranges and
sentences of spans. Real texts: the 314 sample papers of ``graphs/seeds``."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import cast

import pytest
import spacy
from spacy.language import Language
from spacy.pipeline import Sentencizer, SpanRuler
from spacy.tokens import Doc, DocBin

from kgraph.extract import urls
from kgraph.extract.abbreviations import _token_range
from kgraph.extract.assemble import _span_sentence
from kgraph.extract.gazetteer import GazetteerRuler
from kgraph.extract.lexicon import DATA, read_jsonl
from kgraph.extract.patterns import _LIST_SEPARATORS, PatternFinder, Words, _split_words
from kgraph.extract.pipeline import GAZETTEER_KEY, build_pipeline, make_nlp
from kgraph.extract.sentences import FastSentencizer
from kgraph.extract.view import TEXT_KEY, TokenView, doc_text

ROOT = Path(__file__).resolve().parent.parent


def seed_texts() -> list[str]:
    with (ROOT / "graphs" / "seeds" / "papers.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [f"{r['title']}\n\n{r['abstract']}" for r in rows]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return seed_texts()


@pytest.fixture(scope="module")
def rules() -> Language:
    return build_pipeline(model=False)


def test_the_tokenizer_keeps_the_text(rules: Language) -> None:
    text = "Title  here\n\nAn abstract (ABS) with https://github.com/o/r."
    doc = rules.make_doc(text)
    assert doc.user_data[TEXT_KEY] == text == doc.text
    assert doc_text(doc) == text
    # a doc whose text is not stored gets it computed
    plain = spacy.blank("en")("no stored text")
    assert TEXT_KEY not in plain.user_data
    assert doc_text(plain) == "no stored text"


def test_view_matches_the_tokens(rules: Language, texts: list[str]) -> None:
    blanks = ["A  b\n\n\n c", "\n\nA", "A \n\n", "A\n \n\n B\n\nC", "x\t\n\n\ty", "\n\n"]
    for text in [*texts[:120], "", " ", "One.", *blanks]:
        doc = rules(text)
        v = TokenView.of(doc)
        assert v.text == [t.text for t in doc]
        assert v.lower == [t.lower_ for t in doc]
        assert v.idx == [t.idx for t in doc]
        assert v.ws == [len(t.whitespace_) for t in doc]
        assert v.space == [t.is_space for t in doc]
        assert v.sent_start == [bool(t.is_sent_start) for t in doc]
        assert v.sentences(doc) == [(s.start, s.end) for s in doc.sents]
        assert v.doc_text == doc.text
        # the first white-space token holding a blank line ends the title (found by search)
        blank = [i + 1 for i, t in enumerate(doc) if t.is_space and "\n\n" in t.text]
        assert v.title_end == (blank[0] if blank else len(doc))


def test_view_of_a_new_doc_and_written_sentence_starts(rules: Language, texts: list[str]) -> None:
    # a doc fresh from the tokenizer (only its first token is a start) takes the short way
    for text in [*texts[:60], "", "One.", "A b"]:
        doc = rules.make_doc(text)
        v = TokenView(doc)
        assert v.sent_start == [bool(t.is_sent_start) for t in doc]
        assert v.sentenced == (len(doc) <= 1 or doc.has_annotation("SENT_START"))
        if not len(doc):
            continue
        # writing the starts with their indices gives what writing the values alone gives
        values = [1 if i % 7 == 0 else -1 for i in range(len(doc))]
        starts = [i for i, x in enumerate(values) if x == 1]
        other = rules.make_doc(text)
        w = TokenView(other)
        v.set_sent_starts(doc, values, starts)
        w.set_sent_starts(other, values)
        assert v.sent_start == w.sent_start == [bool(t.is_sent_start) for t in doc]
        assert [t.is_sent_start for t in doc] == [t.is_sent_start for t in other]
        assert v.sentenced == w.sentenced


def test_words_match_the_token_loop(rules: Language, texts: list[str]) -> None:
    # Words finds word boundaries with whole-number operations; the loop is the reference
    tricky = [
        "RegMean- and x-_ y",  # a trailing connector: the loop's way
        "pre- and post-training of GPT-4o-mini (CNN)-based, C++ / A/B",
        "a--b  -  x_y_ ...z  \n\n  U.S.-based",
        "",
        " ",
        "-",
        "One",
    ]
    for text in [*texts, *tricky]:
        v = TokenView(rules.make_doc(text))
        w = Words(v)
        starts, ends, words = _split_words(v)
        assert (w.starts, w.ends, w.texts) == (starts, ends, words)
        assert w.lowers == [t.lower() for t in words]
        assert w.n == len(words)
        assert w.joined == [e == s for e, s in zip(ends, starts[1:], strict=False)]


def _listed_names_by_kept_words(
    finder: PatternFinder, v: TokenView, w: Words, names: list[bool], caps: list[bool]
) -> list[tuple[int, int, str, str]]:
    """The first version of ``PatternFinder._listed_names``: the list of the words that are no
    separators, then each inner one of them."""
    out = []
    separators = {k for k in range(w.n) if w.lowers[k] in _LIST_SEPARATORS}
    kept = [k for k in range(w.n) if k not in separators]
    for m in range(1, len(kept) - 1):
        k = kept[m]
        if not caps[k] or names[k]:
            continue
        if (
            w.starts[k] < v.title_end
            or "-" in w.texts[k]
            or v.sent_start[w.starts[k]]
            or w.lowers[k] in finder.non_modifiers
        ):
            continue
        left, right = kept[m - 1], kept[m + 1]
        if (
            names[left]
            and names[right]
            and finder._listed(v, w.ends[left], w.starts[k])
            and finder._listed(v, w.ends[k], w.starts[right])
        ):
            out.append((w.starts[k], w.ends[k], "name", "name"))
    return out


def test_listed_names_match_the_kept_words_way(rules: Language, texts: list[str]) -> None:
    finder = rules.get_pipe("kgraph_patterns")
    assert isinstance(finder, PatternFinder)
    tricky = [
        "Title\n\nWe compare CHGNet > MEGNet > Wrenformer > BOWSR and BERT, Wrenformer and T5.",
        "Title\n\nModels such as GPT-4, Claude, and LLaMA or Mistral vs Gemini; And Or.",
        "Title\n\nX and Wrenformer",
    ]
    found = 0
    for text in [*texts, *tricky]:
        doc = rules(text)
        v = TokenView.of(doc)
        w = Words(v)
        names = [finder.is_name(t) for t in w.texts]
        caps = [finder._caps_cache[t] for t in w.texts]
        ours = finder._listed_names(v, w, v.title_end, names, caps)
        assert ours == _listed_names_by_kept_words(finder, v, w, names, caps)
        found += len(ours)
    assert found


def test_noted_span_rows_are_the_spans(rules: Language, texts: list[str]) -> None:
    # the assembler reads the gazetteer's and the rules' spans from rows the components noted
    def before_the_assembler(text: str) -> Doc:  # (which releases the doc's view)
        doc = rules.make_doc(text)
        for name, proc in rules.pipeline:
            if name != "kgraph_entities":
                doc = proc(doc)
        return doc

    for text in texts[:150]:
        doc = before_the_assembler(text)
        v = TokenView.of(doc)
        for key in ("gazetteer", "patterns"):
            rows = v.span_rows(doc, key)
            assert rows == [(s.start, s.end, s.label_, s.kb_id_, s.id_) for s in doc.spans[key]]
    # rows go stale when the group is replaced or changes size: read the spans then
    doc = before_the_assembler(texts[0])
    v = TokenView.of(doc)
    assert v.span_rows(doc, "gazetteer") is not None
    doc.spans["gazetteer"].append(doc[0:1])
    assert v.span_rows(doc, "gazetteer") is None
    doc.spans["patterns"] = list(doc.spans["patterns"])
    assert v.span_rows(doc, "patterns") is None
    del doc.spans["patterns"]
    assert v.span_rows(doc, "patterns") is None
    # a ruler that does not add to the noted group (overwrite) notes only its own spans
    nlp = make_nlp()
    first = nlp.add_pipe("kgraph_gazetteer", name="a", config={"spans_key": "k"})
    first.add_patterns([{"label": "method", "pattern": "BERT", "id": "bert"}])
    second = nlp.add_pipe("kgraph_gazetteer", name="b", config={"spans_key": "k"})
    second.add_patterns([{"label": "dataset", "pattern": "SQuAD"}])
    doc = nlp("BERT on SQuAD")
    rows = TokenView.of(doc).span_rows(doc, "k")
    assert rows == [(0, 1, "method", "", "bert"), (2, 3, "dataset", "", "")]
    assert rows == [(s.start, s.end, s.label_, s.kb_id_, s.id_) for s in doc.spans["k"]]
    over = make_nlp()
    a = over.add_pipe("kgraph_gazetteer", name="a", config={"spans_key": "k"})
    a.add_patterns([{"label": "method", "pattern": "BERT"}])
    b = over.add_pipe("kgraph_gazetteer", name="b", config={"spans_key": "k", "overwrite": True})
    b.add_patterns([{"label": "dataset", "pattern": "SQuAD"}])
    doc = over("BERT on SQuAD")
    assert TokenView.of(doc).span_rows(doc, "k") == [(2, 3, "dataset", "", "")]
    assert [(s.start, s.end) for s in doc.spans["k"]] == [(2, 3)]


def test_the_view_is_released_after_the_last_component(rules: Language) -> None:
    from kgraph.extract import view

    doc = rules("A title\n\nWe propose Foo-Net (FN), better than BERT on SQuAD.")
    assert id(doc) not in view._VIEWS  # the doc is freed when its user drops it
    again = TokenView.of(doc)  # a later reader builds it anew, the same
    assert again.text == [t.text for t in doc]
    assert again.sent_start == [bool(t.is_sent_start) for t in doc]
    assert TokenView.of(doc) is again
    TokenView.release(doc)
    TokenView.release(doc)  # twice is harmless
    assert id(doc) not in view._VIEWS


def test_fast_sentencizer_gives_spacy_boundaries(texts: list[str]) -> None:
    nlp = make_nlp()
    tricky = ["e.g. this... and that?! Yes.", "U.S. (see Fig. 2). Then 3.5% rose!", "“Quoted.” No"]
    for text in [*texts, *tricky]:
        for overwrite in (False, True):
            ours, theirs = nlp.make_doc(text), nlp.make_doc(text)
            if len(ours) > 3:  # a start set beforehand is kept unless overwrite
                ours[3].is_sent_start = theirs[3].is_sent_start = False
            FastSentencizer(overwrite=overwrite)(ours)
            Sentencizer(overwrite=overwrite)(theirs)
            assert [t.is_sent_start for t in ours] == [t.is_sent_start for t in theirs]


def test_gazetteer_ruler_gives_span_ruler_spans(texts: list[str]) -> None:
    nlp = make_nlp()
    for case, attr in (("exact", "ORTH"), ("lower", "LOWER")):
        patterns = read_jsonl(DATA / f"gazetteer_{case}.jsonl")
        ours = GazetteerRuler(nlp, "ours", spans_key="gaz", phrase_matcher_attr=attr)
        theirs = SpanRuler(nlp, "them", spans_key="gaz", phrase_matcher_attr=attr, overwrite=False)
        ours.add_patterns(patterns)
        theirs.add_patterns(patterns)
        found = 0
        for text in texts:
            a, b = ours(nlp.make_doc(text)), theirs(nlp.make_doc(text))
            got = [(s.start, s.end, s.label_, s.id_) for s in a.spans["gaz"]]
            assert got == [(s.start, s.end, s.label_, s.id_) for s in b.spans["gaz"]]
            found += len(got)
        assert found > 300


def test_patterns_made_by_the_tokenizer_alone_match_as_spacys(
    texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the rulers of the extraction pipeline, filled as SpanRuler fills them (each pattern
    # through the components before it) and by the tokenizer alone: the same spans and the
    # same entities on every seed paper
    ours = build_pipeline(model=False)
    monkeypatch.setattr(GazetteerRuler, "add_patterns", SpanRuler.add_patterns)
    theirs = build_pipeline(model=False)
    found = 0
    for text in texts:
        a, b = ours(text), theirs(text)
        got = [(s.start, s.end, s.label_, s.id_) for s in a.spans[GAZETTEER_KEY]]
        assert got == [(s.start, s.end, s.label_, s.id_) for s in b.spans[GAZETTEER_KEY]]
        assert a._.kg_entities == b._.kg_entities
        found += len(got)
    assert found > 300


def test_adding_patterns_runs_no_component_and_leaves_them_enabled() -> None:
    calls: list[str] = []

    @Language.component("kgraph_test_spy")
    def spy(doc: Doc) -> Doc:
        calls.append(doc.text)
        return doc

    nlp = make_nlp()
    nlp.add_pipe("kgraph_test_spy")
    nlp.add_pipe("kgraph_sentencizer", name="off")
    nlp.disable_pipe("off")
    lower = nlp.add_pipe("kgraph_gazetteer", config={"phrase_matcher_attr": "LOWER"})
    cast(GazetteerRuler, lower).add_patterns([{"label": "dataset", "pattern": "ImageNet-1k"}])
    assert calls == []
    assert nlp.pipe_names == ["kgraph_test_spy", "kgraph_gazetteer"]
    assert nlp.disabled == ["off"]  # (disabled before: still disabled)
    doc = nlp("Results on imagenet-1k.")
    assert calls == ["Results on imagenet-1k."]
    assert [(s.text, s.label_) for s in doc.spans["gazetteer"]] == [("imagenet-1k", "dataset")]
    # an attribute the components before may set: the patterns go through them, as in spaCy
    norm = nlp.add_pipe("kgraph_gazetteer", name="norm", config={"phrase_matcher_attr": "NORM"})
    cast(GazetteerRuler, norm).add_patterns([{"label": "x", "pattern": "deep learning"}])
    assert calls[1:] == ["deep learning"]


def test_url_search_skips_to_the_anchors() -> None:
    # (ı, İ, ſ and the Kelvin sign match ASCII letters when the case is ignored)
    pieces = ["http", "https://", "WWW.", "GitHub.com/", "gıthub.com/", "bitbuc\u212aet.org/"]
    pieces += ["hf.co/", ".github.io", "x-y", "-", "_", "@", ".", "/", " ", "\n", "ſ", "İ"]
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        folded = text.translate(urls._FOLD).lower()
        anchors = folded if len(folded) == len(text) else None
        for pos in range(len(text) + 1):
            plain = urls._URL_RE.search(text, pos)
            fast = urls._url_search(text, anchors, pos)
            assert (plain and plain.span()) == (fast and fast.span()), (text, pos)


def test_token_ranges_and_span_sentences(rules: Language, texts: list[str]) -> None:
    rng = random.Random(3)
    for text in texts[:60]:
        doc = rules(text)
        v = TokenView.of(doc)
        for _ in range(80):
            a = rng.randrange(len(text))
            b = rng.randint(a + 1, len(text))
            span = doc.char_span(a, b)
            assert _token_range(v, a, b) == (None if span is None else (span.start, span.end))
            s = rng.randrange(len(doc))
            e = rng.randint(s + 1, len(doc))
            assert _span_sentence(doc, v, s, e) == doc[s:e].sent.text


def test_processed_docs_still_serialise(rules: Language) -> None:
    """The view and the kept text add nothing to a doc that stops it from serialising."""
    with rules.select_pipes(disable=["kgraph_entities"]):  # (Entity objects do not serialise)
        doc = rules("Knowledge Distillation\n\nKnowledge distillation (KD) is simple. KD works.")
    bin_ = DocBin(store_user_data=True)
    bin_.add(doc)
    (back,) = DocBin().from_bytes(bin_.to_bytes()).get_docs(rules.vocab)
    assert isinstance(back, Doc)
    assert back._.abbreviation_map == {"KD": "Knowledge distillation"}
    assert [s.text for s in back.spans["gazetteer"]] == [s.text for s in doc.spans["gazetteer"]]
