"""The rule component alone on spacy.blank("en"), and the assembler on small texts."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

from kgraph.extract.assemble import norm_key, singular
from kgraph.extract.patterns import words_of
from kgraph.extract.pipeline import build_pipeline


@pytest.fixture(scope="module")
def nlp() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("kgraph_sections")
    nlp.add_pipe("kgraph_patterns")
    return nlp


@pytest.fixture(scope="module")
def full() -> Language:
    return build_pipeline()


def found(nlp: Language, text: str) -> set[tuple[str, str, str]]:
    doc = nlp(text)
    return {(s.text, s.label_, s.kb_id_) for s in doc.spans["patterns"]}


def test_words_keep_hyphenated_names_together(nlp: Language) -> None:
    doc = nlp("We train MS-COCO models, then 3DSAM-adapter (ours).")
    assert [w.text for w in words_of(doc)] == [
        "We", "train", "MS-COCO", "models", "then", "3DSAM-adapter", "ours"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("We compare with RegMean++ on eight tasks.", "RegMean++"),
        ("It beats GPT-4o by a wide margin.", "GPT-4o"),
        ("Results with Llama-2 7B are reported.", "Llama-2 7B"),
        ("We distill into NesyCD models.", "NesyCD"),
        ("On MS-COCO the gain is small.", "MS-COCO"),
        ("We present Neural PG-RANK for ranking.", "Neural PG-RANK"),
        ("The eCeLLM models are open.", "eCeLLM"),
    ],
)
def test_name_shapes(nlp: Language, text: str, name: str) -> None:
    assert (name, "name", "name") in found(nlp, "A Title\n\n" + text)


@pytest.mark.parametrize(
    "text",
    ["We use a GPU and an API.", "It costs 15,283 tasks and 10x less.", "AI is here. I agree."],
)
def test_not_names(nlp: Language, text: str) -> None:
    assert not {f for f in found(nlp, "A title\n\n" + text) if f[2] == "name"}


def test_title_prefix(nlp: Language) -> None:
    got = found(nlp, "SWE-RL: Advancing LLM Reasoning\n\nWe study things.")
    assert ("SWE-RL", "name", "title") in got
    assert not {f for f in found(nlp, "On Scale: A Study\n\nText.") if f[2] == "title"}


@pytest.mark.parametrize(
    ("text", "phrase", "label"),
    [
        (
            "We address few-shot relation classification in finance.",
            "few-shot relation classification",
            "task",
        ),
        ("Models trained with contrastive learning help.", "contrastive learning", "method"),
        ("We report the word error rate on test data.", "word error rate", "metric"),
        (
            "It improves out-of-distribution detection a lot.",
            "out-of-distribution detection",
            "task",
        ),
    ],
)
def test_head_phrases(nlp: Language, text: str, phrase: str, label: str) -> None:
    assert (phrase, label, "phrase") in found(nlp, "A title\n\n" + text)


def test_head_phrases_stop_at_verbs_and_function_words(nlp: Language) -> None:
    got = {f[0] for f in found(nlp, "A title\n\nThis allows question answering during inference.")}
    assert "question answering" in got
    assert not any(g.startswith(("allows", "during", "This")) for g in got)


def test_norm_key_and_singular() -> None:
    assert norm_key("Large Language Models") == norm_key("large-language model")
    assert norm_key("GPT-4") != norm_key("GPT-4o")
    assert singular("large language models") == "large language model"
    assert singular("LLMs") == "LLM"
    assert singular("physics") == "physics"
    assert singular("BERT") == "BERT"


def entities(nlp: Language, text: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    return {e.name: (e.type, e.relation, e.aliases) for e in nlp(text)._.kg_entities}


def test_title_name_is_proposed(full: Language) -> None:
    ents = entities(full, "RegMean++: Better Merging\n\nWe improve RegMean++ over prior merging.")
    assert ents["RegMean++"][:2] == ("method", "proposes")


def test_introduced_dataset_and_benchmark(full: Language) -> None:
    ents = entities(
        full,
        "A Study of Agents\n\n"
        "We release a new dataset, AndroidControl, with 15,283 demonstrations. "
        "We also introduce WebShopBench, a benchmark for shopping agents.",
    )
    assert ents["AndroidControl"][:2] == ("dataset", "introduces")
    assert ents["WebShopBench"][:2] == ("benchmark", "introduces")


def test_abbreviation_makes_one_entity_named_by_long_form(full: Language) -> None:
    ents = entities(
        full,
        "Merging Models\n\n"
        "Regression Mean (RegMean) merges layers. RegMean is fast, and RegMean helps.",
    )
    assert "Regression Mean" in ents and "RegMean" not in ents
    assert ents["Regression Mean"][2] == ("RegMean",)


def test_context_types_coordinated_names(full: Language) -> None:
    ents = entities(full, "A Title\n\nWe evaluate on the FooQA and BarQA benchmarks with Zeta-7B.")
    assert ents["FooQA"][0] == "benchmark" and ents["BarQA"][0] == "benchmark"
    assert ents["Zeta-7B"][0] == "method"


def test_generic_words_are_dropped(full: Language) -> None:
    ents = entities(
        full, "A Title\n\nOur model and framework use deep learning and neural networks."
    )
    assert not ents


def test_url_entity_is_canonical_code(full: Language) -> None:
    ents = entities(full, "A Title\n\nCode: https://github.com/owner/repo/tree/main.")
    assert ents["https://github.com/owner/repo"][:2] == ("repository", "code")


def test_mentions_point_into_the_text(full: Language) -> None:
    text = "StyleSinger: Singing Voices\n\nWe propose StyleSinger, a model. StyleSinger is fast."
    doc = full(text)
    ent = next(e for e in doc._.kg_entities if e.name == "StyleSinger")
    assert [text[m.start:m.end] for m in ent.mentions] == ["StyleSinger"] * 3
    assert ent.mentions[1].sentence == "We propose StyleSinger, a model."


def test_capitalised_word_listed_between_names(nlp: Language) -> None:
    text = "T\n\nWe rank CHGNet > Wrenformer > BOWSR, and BERT, Zebra and T5."
    got = {f[0] for f in found(nlp, text)}
    assert {"CHGNet", "Wrenformer", "BOWSR", "BERT", "Zebra", "T5"} <= got
    assert "Zebra" not in {f[0] for f in found(nlp, "T\n\nWe saw a Zebra near the lake.")}


def test_proper_adjectives_inside_technique_names(nlp: Language) -> None:
    got = found(nlp, "T\n\nWe fit a Gaussian process regression and a Bayesian optimizer.")
    assert ("Gaussian process regression", "method", "phrase") in got
    assert ("Bayesian optimizer", "method", "phrase") in got


def test_title_case_phrase_takes_lowercase_name(full: Language) -> None:
    ents = entities(full, "Better Representation Learning for Graphs\n\nWe study graphs.")
    assert ents["representation learning"][2] == ("Representation Learning",)


@pytest.mark.parametrize(("plural", "one"), [("Gaussian processes", "Gaussian process"),
                                             ("bounding boxes", "bounding box"),
                                             ("image patches", "image patch")])
def test_singular_of_es_plurals(plural: str, one: str) -> None:
    assert singular(plural) == one
