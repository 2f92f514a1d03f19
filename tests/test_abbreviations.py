"""Abbreviation definitions (Schwartz & Hearst 2003) and the ``kgraph_abbreviations`` component.

Sentences come from the sample pages (``graphs/pages/*.txt``), SciERC and the arXiv corpus.
"""

from __future__ import annotations

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from kgraph.extract.abbreviations import (
    find_abbreviations,
    is_short_form,
    match_long_form,
    short_form_chars,
)


@pytest.fixture(scope="module")
def nlp() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("kgraph_abbreviations")
    return nlp


def pairs(doc: Doc) -> list[tuple[str, str]]:
    return [(a.long.text, a.short.text) for a in doc._.abbreviations]


POSITIVE = [
    # graphs/pages
    ("Knowledge distillation (KD) is a simple and successful method to transfer knowledge from "
     "a teacher to a student model solely based on functional activity.",
     [("Knowledge distillation", "KD")]),
    ("Direct Preference Optimization (DPO) improves the alignment of large language models (LLMs) "
     "with human values by training directly on human preference datasets, eliminating the need "
     "for reward models.",
     [("Direct Preference Optimization", "DPO"), ("large language models", "LLMs")]),
    ("Regression Mean (RegMean), an approach that formulates model merging as a linear regression "
     "problem, aims to find the optimal weights for each linear layer in the merge model.",
     [("Regression Mean", "RegMean")]),
    ("Despite its effectiveness, batch-level shuffling exhibits two practical limitations: "
     "suboptimal out-of-domain (OOD) generalization and poor suitability for incremental learning.",
     [("out-of-domain", "OOD")]),
    ("Specifically, we incorporate Mixture-of-Experts (MoE) as teachers, where each expert is "
     "separately trained on different source domains to maximize their specialty.",
     [("Mixture-of-Experts", "MoE")]),
    ("StyleSinger incorporates two critical approaches for enhanced effectiveness: 1) the Residual "
     "Style Adaptor (RSA) which employs a residual quantization module to capture diverse style "
     "characteristics in singing voices, and 2) the Uncertainty Modeling Layer Normalization "
     "(UMLN) to perturb the style attributes within the content representation.",
     [("Residual Style Adaptor", "RSA"), ("Uncertainty Modeling Layer Normalization", "UMLN")]),
    ("To address these challenges, we propose a novel Granular-GRPO (G^2RPO ) framework.",
     [("Granular-GRPO", "G^2RPO")]),
    ("In this paper, we propose Neural-Symbolic Collaborative Distillation (NesyCD), a novel "
     "knowledge distillation method for learning the complex reasoning abilities of Large "
     "Language Models (LLMs, e.g., \\textgreater 13B).",
     [("Neural-Symbolic Collaborative Distillation", "NesyCD"),
      ("Large Language Models", "LLMs")]),
    ("Recently, Parameter-Efficient Fine-Tuning (PEFT) alleviates the above problem by "
     "fine-tuning a small portion of the model parameters while keeping the rest frozen.",
     [("Parameter-Efficient Fine-Tuning", "PEFT")]),
    ("To address this, we introduce Critical Plan Step Learning (CPL), comprising: 1) searching "
     "on plan, using Monte Carlo Tree Search (MCTS) to explore diverse plan steps, and 2) "
     "learning critical plan steps through Step-level Advantage Preference Optimization "
     "(Step-APO), which integrates advantage estimates obtained via MCTS into Direct Preference "
     "Optimization (DPO).",
     [("Critical Plan Step Learning", "CPL"), ("Monte Carlo Tree Search", "MCTS"),
      ("Step-level Advantage Preference Optimization", "Step-APO"),
      ("Direct Preference Optimization", "DPO")]),
    ("Extensive experiments demonstrate that RegMean++ consistently outperforms RegMean across "
     "diverse settings, including in-domain (ID) and out-of-domain (OOD) generalization.",
     [("in-domain", "ID"), ("out-of-domain", "OOD")]),
    ("To handle the low-resource MTR task, we raise a new query-tool alignment (QTA) framework.",
     [("query-tool alignment", "QTA")]),
    # SciERC (pre-tokenised text)
    ("This in turn affects the accuracy of word sense disambiguation ( WSD ) systems trained and "
     "applied on different domains .",
     [("word sense disambiguation", "WSD")]),
    ("Our approach to the Multi-lingual Evaluation Task ( MET ) for Japanese text is to consider "
     "the given task as a morphological analysis problem in Japanese .",
     [("Multi-lingual Evaluation Task", "MET")]),
    # arXiv corpus
    ("3D Gaussian Splatting (3DGS) has shown immense potential for novel view\nsynthesis.",
     [("3D Gaussian Splatting", "3DGS")]),
    ("Vision-language models (VLMs) often inherit the biases and unsafe\nassociations present "
     "within their large-scale training dataset.",
     [("Vision-language models", "VLMs")]),
    ("We evaluate on the Karlsruhe Institute of Technology and Toyota Technological Institute "
     "(KITTI) benchmark.",
     [("Karlsruhe Institute of Technology and Toyota Technological Institute", "KITTI")]),
    # the white-space word holding the first match is kept whole
    ("Recent self-supervised learning (SSL) methods learn from unlabelled data.",
     [("self-supervised learning", "SSL")]),
    # "SHORT (long form)"
    ("We route tokens in MoE (Mixture-of-Experts) layers and classify with k-NN (k-nearest "
     "neighbors) search.",
     [("Mixture-of-Experts", "MoE"), ("k-nearest neighbors", "k-NN")]),
    ("We fine-tune BERT (Bidirectional Encoder Representations from Transformers) on GLUE.",
     [("Bidirectional Encoder Representations from Transformers", "BERT")]),
    ("We build on ResNet (a residual network) for the backbone.",
     [("residual network", "ResNet")]),
    # "(SHORT, long form)": the long form follows the short form in the parenthesis
    ("We rely on adapters (LoRA, low-rank adaptation) for efficiency.",
     [("low-rank adaptation", "LoRA")]),
    # "(SHORT; e.g. ...)": the first piece is the short form
    ("We compare against graph neural networks (GNNs; e.g., GCN and GAT) on all tasks.",
     [("graph neural networks", "GNNs")]),
    # the determiner before a long form stays out of it
    ("We train the Transformer Decoder (TD) on the corpus.", [("Transformer Decoder", "TD")]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_definitions(nlp: Language, text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(nlp(text)) == expected


NEGATIVE = [
    "Using only 11% of the original MathInstruct dataset (Yue et al., 2023) matches full training.",
    "We use BERT (Devlin et al., 2019) as the encoder.",
    "We pre-train on large image collections (e.g., ImageNet) before fine-tuning.",
    "The full derivation is given in the appendix (see Section 3) of the paper.",
    "The loss in equation (2) is minimised with Adam.",
    "Each head is a small network (i.e., a two-layer MLP) on top of the encoder.",
    "AndroidControl is the most diverse computer control dataset to date (15,283 tasks).",
    "Results are shown in the last table (Table 2) and in the plots (Fig. 3).",
    "The method was presented at a workshop (ICLR 2024) last year.",
    "We sample a small batch (N=5) per step in Phase (II) of training.",
    "Our method (ours) beats the one by Smith (Smith) on all datasets.",
    # the first letter would have to come from a determiner
    "We replace the Embedding (TE) layer.",
    # never across a sentence start ...
    "We study Large Language. Models (LM) are good.",
    # ... nor across another parenthesis
    "A new Model (SSM) for tasks.",
    # a short form that is a word of its long form
    "We introduce RegMean++ (RegMean++), a simple yet effective alternative to RegMean.",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_not_definitions(nlp: Language, text: str) -> None:
    assert pairs(nlp(text)) == []


def test_previous_parenthesis_bounds_the_long_form(nlp: Language) -> None:
    doc = nlp("We use Semantic Segmentation (SS) Model (SSM) for dense tasks.")
    assert pairs(doc) == [("Semantic Segmentation", "SS")]


def test_later_occurrences_point_to_the_long_form(nlp: Language) -> None:
    text = (
        "Direct Preference Optimization (DPO) improves the alignment of large language models "
        "(LLMs) with human values. Unlike DPO, our method scales to any LLM. Code for LLMs and "
        "DPO-style training is released."
    )
    doc = nlp(text)
    assert doc._.abbreviation_map == {
        "DPO": "Direct Preference Optimization",
        "LLMs": "large language models",
    }
    spans = [(s.text, s.label_, s.kb_id_) for s in doc.spans["abbreviations"]]
    assert spans == [
        ("Direct Preference Optimization", "long", "Direct Preference Optimization"),
        ("DPO", "short", "Direct Preference Optimization"),
        ("large language models", "long", "large language models"),
        ("LLMs", "short", "large language models"),
        ("DPO", "short", "Direct Preference Optimization"),
        ("LLM", "short", "large language models"),
        ("LLMs", "short", "large language models"),
        ("DPO", "short", "Direct Preference Optimization"),
    ]
    # the spans are the later occurrences, not text inside other words
    later = [s for s in doc.spans["abbreviations"] if s.start > doc._.abbreviations[-1].short.end]
    assert [s.start_char for s in later] == [
        text.index("DPO,"),
        text.index("LLM."),
        text.index("LLMs and"),
        text.index("DPO-style"),
    ]


def test_multi_token_short_forms_are_found_again(nlp: Language) -> None:
    doc = nlp("We classify with k-NN (k-nearest neighbors) search. A k-NN graph is built.")
    shorts = [(s.text, s.kb_id_) for s in doc.spans["abbreviations"] if s.label_ == "short"]
    assert shorts == [("k-NN", "k-nearest neighbors"), ("k-NN", "k-nearest neighbors")]


def test_first_definition_wins_the_map(nlp: Language) -> None:
    doc = nlp(
        "Reinforcement learning (RL) trains agents. Representation learning (RL) learns features. "
        "RL is used."
    )
    assert pairs(doc) == [("Reinforcement learning", "RL"), ("Representation learning", "RL")]
    assert doc._.abbreviation_map == {"RL": "Reinforcement learning"}
    group = doc.spans["abbreviations"]
    assert [(s.text, s.label_, s.kb_id_) for s in group][-1] == (
        "RL",
        "short",
        "Reinforcement learning",
    )
    # a definition's own spans carry its own long form
    assert group[2].text == "Representation learning"
    assert group[2].kb_id_ == "Representation learning"


def test_long_form_white_space_is_normalised_in_the_map(nlp: Language) -> None:
    doc = nlp("We probe large language\nmodels (LLMs) for bias.")
    assert pairs(doc) == [("large language\nmodels", "LLMs")]
    assert doc._.abbreviation_map == {"LLMs": "large language models"}


def test_unprocessed_and_empty_docs(nlp: Language) -> None:
    assert nlp.make_doc("Knowledge distillation (KD) works.")._.abbreviations is None
    doc = nlp("No abbreviations here.")
    assert doc._.abbreviations == []
    assert doc._.abbreviation_map == {}
    assert list(doc.spans["abbreviations"]) == []
    assert nlp("")._.abbreviations == []


def test_without_a_sentencizer() -> None:
    bare = spacy.blank("en")
    bare.add_pipe("kgraph_abbreviations")
    assert pairs(bare("Knowledge distillation (KD) is simple.")) == [
        ("Knowledge distillation", "KD")
    ]


def test_find_abbreviations_function(nlp: Language) -> None:
    doc = nlp.make_doc("Out-of-distribution (OOD) detection is hard.")
    found = find_abbreviations(doc)
    assert [(a.long.text, a.short.text) for a in found] == [("Out-of-distribution", "OOD")]


def test_processed_docs_serialise(nlp: Language) -> None:
    doc = nlp("Knowledge distillation (KD) is simple. KD works.")
    bin_ = DocBin(store_user_data=True)
    bin_.add(doc)
    (back,) = DocBin().from_bytes(bin_.to_bytes()).get_docs(nlp.vocab)
    assert pairs(back) == [("Knowledge distillation", "KD")]
    assert back._.abbreviation_map == {"KD": "Knowledge distillation"}
    assert [s.kb_id_ for s in back.spans["abbreviations"]] == ["Knowledge distillation"] * 3


# --- the pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [("KD", True), ("LLMs", True), ("RegMean", True), ("NesyCD", True), ("3DGS", True),
     ("G^2RPO", True), ("RegMean++", True), ("kNN", True), ("T5", True), ("Step-APO", True),
     ("K", False), ("Smith", False), ("ours", False), ("e.g.", False), ("2", False),
     ("15,283", False), ("II", False), ("N=5", False), ("Smith et al.", False),
     ("ABCDEFGHIJK", False), ("-KD", False)],
)  # fmt: skip
def test_is_short_form(text: str, ok: bool) -> None:
    assert is_short_form(text) is ok


@pytest.mark.parametrize(
    ("short", "chars"),
    [("LLMs", "llm"), ("G^2RPO", "ggrpo"), ("RegMean++", "regmean"), ("Step-APO", "stepapo"),
     ("3DGS", "3dgs"), ("GNNs", "gnn"), ("Ours", "ours")],
)  # fmt: skip
def test_short_form_chars(short: str, chars: str) -> None:
    assert short_form_chars(short) == chars


def test_match_long_form() -> None:
    text = "we propose Neural-Symbolic Collaborative Distillation"
    assert match_long_form("NesyCD", text) == len("we propose ")
    assert match_long_form("XYZ", "large language models") is None
    # the first character must start a word: "m" inside "models" cannot start "MD"
    assert match_long_form("MD", "xmodels") is None
    # rightmost match: the shortest long form
    assert match_long_form("KD", "knowledge transfer and Knowledge Distillation") == 23


# --- property: initials of random words ------------------------------------------------------

# Each word is one consonant followed by vowels, so every letter of the short form occurs in
# the text only as the initial of its word and the right-to-left match is unambiguous.
_CONSONANTS = "bcdfghjklmnpqrstvwxz"
words = st.builds(
    lambda c, rest: c + rest,
    st.sampled_from(_CONSONANTS),
    st.text("aeiouy", min_size=0, max_size=7),
)


@settings(max_examples=200, deadline=None)
@given(ws=st.lists(words, min_size=2, max_size=8))
def test_initials_of_words_are_found(nlp: Language, ws: list[str]) -> None:
    long_form = " ".join(ws)
    short = "".join(w[0].upper() for w in ws)
    doc = nlp(f"In this work we study {long_form} ({short}) in detail.")
    assert pairs(doc) == [(long_form, short)]
    assert doc._.abbreviation_map == {short: long_form}
