"""The learned span tagger: corpus conversion, the shipped model, its pipeline component."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kgraph.extract.pipeline import build_pipeline, make_nlp
from kgraph.model import LABELS, MODEL_DIR, TYPE_MAP, model_available
from kgraph.model.component import bio_spans, load_model, training_nlp
from kgraph.model.corpus import Counts, convert_file, detokenize, to_doc

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
needs_shared = pytest.mark.skipif(
    not (SHARED / "data" / "scierc").is_dir(), reason="needs ../shared/data"
)
needs_model = pytest.mark.skipif(not model_available(), reason="no model in kgraph/data/model")


def test_detokenize_carries_offsets() -> None:
    text = "a Bi - LSTM ( BiLSTM ) reaches 95 % , not 90 ."
    new, mapping = detokenize(text)
    assert new == "a Bi-LSTM (BiLSTM) reaches 95%, not 90."
    start = text.index("Bi - LSTM")
    end = start + len("Bi - LSTM")
    assert new[mapping[start] : mapping[end]] == "Bi-LSTM"
    start = text.index("BiLSTM")
    assert new[mapping[start] : mapping[start + 6]] == "BiLSTM"
    assert mapping[len(text)] == len(new)


def test_bio_spans() -> None:
    tags = ["B-TASK", "I-TASK", "O", "I-METHOD", "B-METRIC", "I-TASK", "", "B-DATASET"]
    assert bio_spans(tags) == [
        (0, 2, "TASK"), (3, 4, "METHOD"), (4, 5, "METRIC"), (5, 6, "TASK"), (7, 8, "DATASET")
    ]


def test_to_doc_tags_and_missing_names() -> None:
    nlp = training_nlp()
    counts = Counts()
    text = "We evaluate BERT on SQuAD for question answering ."
    start = text.index("question answering")
    ents = [(start, start + len("question answering"), "TASK"), (20, 25, "DATASET")]
    doc = to_doc(nlp, text, ents, counts, partial_names=True)
    assert [t.tag_ for t in doc] == ["", "O", "", "O", "B-DATASET", "O", "B-TASK", "I-TASK", "O"]
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("SQuAD", "DATASET"), ("question answering", "TASK")
    ]
    assert counts.aligned == 2 and counts.misaligned == 0


@needs_shared
@pytest.mark.parametrize(
    "path,corpus",
    [("scierc/scierc_dev.jsonl", "scierc"), ("tdmsci/tdmsci_train.jsonl", "tdmsci")],
)
def test_converted_corpus(path: str, corpus: str) -> None:
    counts = Counts()
    docs = convert_file(training_nlp(), SHARED / "data" / path, corpus, counts)
    assert docs and counts.docs == len(docs)
    assert counts.aligned > 0 and counts.aligned >= 0.95 * counts.entities
    assert set(counts.labels) == set(TYPE_MAP[corpus].values())
    assert set(counts.labels) <= set(LABELS)
    tags = {t.tag_ for d in docs for t in d}
    assert tags <= {"", "O"} | {f"{p}-{label}" for p in "BI" for label in LABELS}
    if corpus == "scierc":
        assert counts.dropped_types["scierc:Generic"] > 0
        assert "" not in tags


@needs_model
def test_shipped_model_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must load without network access")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    load_model.cache_clear()
    nlp = load_model()
    assert nlp.pipe_names == ["tagger"]
    size = sum(f.stat().st_size for f in MODEL_DIR.rglob("*") if f.is_file())
    assert size < 20_000_000


@needs_model
def test_model_finds_names() -> None:
    nlp = make_nlp()
    nlp.add_pipe("kgraph_model", config={"candidates": "all"})
    doc = nlp(
        "Fine-tuning BERT for Question Answering\n\n"
        "We fine-tune BERT on SQuAD and report the F1 score. "
        "We also train ResNet-50 on ImageNet for image classification."
    )
    found = {(s.text, s.label_) for s in doc.spans["model"]}
    assert ("BERT", "method") in found
    assert ("ImageNet", "dataset") in found
    assert {s.label_ for s in doc.spans["model"]} <= {label.lower() for label in LABELS}
    assert len(doc.spans["model"].attrs["scores"]) == len(doc.spans["model"])
    assert not doc.ents  # the model writes spans, not entities
    probs = doc._.model_type_probs
    assert probs.shape == (len(doc), len(LABELS))
    bert = next(t.i for t in doc if t.text == "BERT")
    assert probs[bert].argmax() == LABELS.index("METHOD")


@needs_model
def test_pipeline_with_model() -> None:
    nlp = build_pipeline()
    assert "kgraph_model" in nlp.pipe_names
    assert nlp.pipe_names.index("kgraph_model") < nlp.pipe_names.index("kgraph_entities")
    doc = nlp(
        "ZetaNet: Sparse Routing for Retrieval\n\n"
        "We propose ZetaNet and evaluate it against BERT on SQuAD, reporting exact match."
    )
    assert "model" in doc.spans
    # default candidates: names no other component proposed, never a gazetteer hit
    gazetteer = {(s.start, s.end) for s in doc.spans.get("gazetteer", [])}
    assert all((s.start, s.end) not in gazetteer for s in doc.spans["model"])
    assert doc._.model_type_probs is not None
    assert doc._.kg_entities


def test_no_model_pipeline() -> None:
    nlp = build_pipeline(model=False)
    assert "kgraph_model" not in nlp.pipe_names
    doc = nlp("We fine-tune BERT on SQuAD.")
    assert "model" not in doc.spans


@needs_model
def test_model_component_empty_and_batched() -> None:
    nlp = build_pipeline()
    docs = list(nlp.pipe(["", "BERT", "We train ResNet-50 on ImageNet."] * 3, batch_size=4))
    assert len(docs) == 9
    assert len(docs[0].spans["model"]) == 0
    for doc in docs:
        assert len(doc.spans["model"].attrs["scores"]) == len(doc.spans["model"])
        assert doc._.model_type_probs.shape == (len(doc), len(LABELS))


@pytest.mark.parametrize(
    "start,end,expected",
    [
        (6, 8, "low-level tasks"),  # a span starting inside a word takes the whole word
        (9, 10, "e-commerce"),
        (13, 14, "BERT"),  # "-based" stays out
        (18, 20, "LLMs"),
        (23, 27, "automatic speech recognition"),  # cut at the unclosed bracket
        (17, 21, "models (LLMs)"),
        (16, 19, "GPT-4o models"),
    ],
)
def test_clean_spans(start: int, end: int, expected: str) -> None:
    from kgraph.model.component import _clean, _View

    doc = make_nlp()(
        "We use high and low-level tasks in e-commerce with BERT-based GPT-4o models (LLMs), "
        "like automatic speech recognition (ASR)."
    )
    pieces = _clean(_View(doc), start, end, frozenset({"based"}))
    assert [doc[a:b].text for a, b in pieces] == [expected]
