"""Tests of the shipped gazetteer data (kgraph/data) and of its builder."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spacy

from kgraph.extract.build_gazetteer import generic_norm, main, slugify

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "kgraph" / "data"
CURATED = DATA / "curated"
SHARED = ROOT.parent / "shared"
OUTPUTS = ("gazetteer_entities.jsonl", "gazetteer_exact.jsonl", "gazetteer_lower.jsonl")
TYPES = {"method", "dataset", "benchmark", "metric", "task"}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            assert line.strip(), f"{path.name}:{n}: empty line"
            obj = json.loads(line)
            assert isinstance(obj, dict), f"{path.name}:{n}: not an object"
            yield obj


@pytest.fixture(scope="module")
def entities() -> dict[str, dict[str, Any]]:
    rows = list(read_jsonl(DATA / "gazetteer_entities.jsonl"))
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate entity ids"
    return {r["id"]: r for r in rows}


@pytest.fixture(scope="module")
def exact_patterns() -> list[dict[str, Any]]:
    return list(read_jsonl(DATA / "gazetteer_exact.jsonl"))


@pytest.fixture(scope="module")
def lower_patterns() -> list[dict[str, Any]]:
    return list(read_jsonl(DATA / "gazetteer_lower.jsonl"))


@pytest.fixture(scope="module")
def nlp(exact_patterns: list[dict[str, Any]], lower_patterns: list[dict[str, Any]]) -> Any:
    nlp = spacy.blank("en")
    exact: Any = nlp.add_pipe(
        "span_ruler",
        name="gaz_exact",
        config={"spans_key": "gaz", "phrase_matcher_attr": "ORTH"},
    )
    exact.add_patterns(exact_patterns)
    lower: Any = nlp.add_pipe(
        "span_ruler",
        name="gaz_lower",
        config={"spans_key": "gaz", "phrase_matcher_attr": "LOWER", "overwrite": False},
    )
    lower.add_patterns(lower_patterns)
    return nlp


def found(nlp: Any, text: str) -> set[tuple[str, str, str]]:
    doc = nlp(text)
    return {(s.text, s.label_, s.id_) for s in doc.spans["gaz"]}


# --- file structure ---------------------------------------------------------------------------


def test_files_parse_and_are_small() -> None:
    for name in OUTPUTS:
        path = DATA / name
        assert path.stat().st_size < 3_000_000, f"{name} is over 3 MB"
        assert sum(1 for _ in read_jsonl(path)) > 1000


def test_entity_rows(entities: dict[str, dict[str, Any]]) -> None:
    for eid, e in entities.items():
        assert set(e) == {"id", "type", "name", "aliases", "sources"}, eid
        assert e["type"] in TYPES, eid
        assert eid.startswith(e["type"] + "/"), eid
        assert e["sources"] and set(e["sources"]) <= {"curated", "pwc", "nlp-tdms"}, eid
        assert e["name"] not in e["aliases"], eid
        assert e["aliases"] == sorted(set(e["aliases"])), eid


def test_ids_are_slugs_of_names(entities: dict[str, dict[str, Any]]) -> None:
    for eid, e in entities.items():
        base = f"{e['type']}/{slugify(e['name'])}"
        assert eid == base or re.fullmatch(re.escape(base) + r"-\d+", eid), eid


def test_known_ids_are_stable(entities: dict[str, dict[str, Any]]) -> None:
    for eid in (
        "method/bert",
        "method/roberta",
        "method/gpt-4",
        "method/gpt-4o",
        "method/resnet",
        "method/resnet-50",
        "method/large-language-model",
        "method/low-rank-adaptation",
        "method/chain-of-thought",
        "dataset/imagenet",
        "dataset/ms-coco",
        "dataset/cifar-10",
        "benchmark/mmlu",
        "benchmark/glue",
        "metric/top-1-accuracy",
        "metric/word-error-rate",
        "task/out-of-distribution-detection",
        "task/speech-recognition",
    ):
        assert eid in entities, eid
    assert entities["method/large-language-model"]["name"] == "large language model"


def test_files_are_sorted(
    exact_patterns: list[dict[str, Any]], lower_patterns: list[dict[str, Any]]
) -> None:
    ids = [json.loads(line)["id"] for line in (DATA / OUTPUTS[0]).open(encoding="utf-8")]
    assert ids == sorted(ids)
    for rows in (exact_patterns, lower_patterns):
        keys = [(p["label"], p["id"], p["pattern"]) for p in rows]
        assert keys == sorted(keys)


def test_patterns_point_to_entities(
    entities: dict[str, dict[str, Any]],
    exact_patterns: list[dict[str, Any]],
    lower_patterns: list[dict[str, Any]],
) -> None:
    used = set()
    for p in exact_patterns + lower_patterns:
        assert set(p) == {"label", "pattern", "id"}
        assert p["id"] in entities, p
        assert entities[p["id"]]["type"] == p["label"], p
        assert p["pattern"].strip() == p["pattern"] and p["pattern"], p
        used.add(p["id"])
    assert used == set(entities), "entities without any pattern"
    for p in lower_patterns:
        assert p["pattern"] == p["pattern"].lower(), p


def test_no_pattern_claimed_twice(
    exact_patterns: list[dict[str, Any]], lower_patterns: list[dict[str, Any]]
) -> None:
    nlp = spacy.blank("en")
    exact: dict[tuple[str, ...], str] = {}
    for p in exact_patterns:
        key = tuple(t.text for t in nlp.tokenizer(p["pattern"]))
        assert exact.setdefault(key, p["id"]) == p["id"], p
    lower: dict[tuple[str, ...], str] = {}
    for p in lower_patterns:
        key = tuple(t.lower_ for t in nlp.tokenizer(p["pattern"]))
        assert lower.setdefault(key, p["id"]) == p["id"], p
    for key, eid in exact.items():
        other = lower.get(tuple(t.lower() for t in key))
        assert other is None or other == eid, (key, eid, other)


def test_no_generic_term_is_a_pattern(
    exact_patterns: list[dict[str, Any]], lower_patterns: list[dict[str, Any]]
) -> None:
    generic = {generic_norm(r["text"]) for r in read_jsonl(CURATED / "generic.jsonl")}
    assert len(generic) >= 150
    for p in exact_patterns + lower_patterns:
        assert generic_norm(p["pattern"]) not in generic, p


# --- curated lists ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fname", "typ", "minimum"),
    [
        ("methods.jsonl", "method", 400),
        ("metrics.jsonl", "metric", 120),
        ("tasks.jsonl", "task", 250),
        ("datasets.jsonl", "dataset", 150),
        ("benchmarks.jsonl", "benchmark", 100),
    ],
)
def test_curated_lists(fname: str, typ: str, minimum: int) -> None:
    rows = list(read_jsonl(CURATED / fname))
    assert len(rows) >= minimum
    for r in rows:
        assert set(r) <= {"name", "type", "aliases", "note"}, r
        assert r["type"] == typ and r["name"].strip() == r["name"], r
        assert isinstance(r["aliases"], list), r
        assert r["name"] not in r["aliases"], r


def test_curated_entities_are_kept(entities: dict[str, dict[str, Any]]) -> None:
    names = {(e["type"], e["name"]) for e in entities.values() if "curated" in e["sources"]}
    for fname in ("methods", "metrics", "tasks", "datasets", "benchmarks"):
        for r in read_jsonl(CURATED / f"{fname}.jsonl"):
            assert (r["type"], r["name"]) in names, r


# --- matching with spaCy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "We evaluate on ImageNet and MS COCO using top-1 accuracy.",
            [
                ("ImageNet", "dataset/imagenet"),
                ("MS COCO", "dataset/ms-coco"),
                ("top-1 accuracy", "metric/top-1-accuracy"),
            ],
        ),
        (
            "Large language models (LLMs) such as GPT-4o and Llama 2 7B are fine-tuned with LoRA.",
            [
                ("Large language models", "method/large-language-model"),
                ("LLMs", "method/large-language-model"),
                ("GPT-4o", "method/gpt-4o"),
                ("Llama 2 7B", "method/llama-2-7b"),
                ("Llama 2", "method/llama-2"),
                ("LoRA", "method/low-rank-adaptation"),
            ],
        ),
        (
            "Chain of thought prompting improves mathematical reasoning on GSM8K and MMLU.",
            [
                ("Chain of thought", "method/chain-of-thought"),
                ("mathematical reasoning", "task/mathematical-reasoning"),
                ("GSM8K", "dataset/gsm8k"),
                ("MMLU", "benchmark/mmlu"),
            ],
        ),
        (
            "A ResNet-50 backbone outperforms ResNet and ViT on out-of-distribution detection, "
            "lowering FPR95 and raising AUROC.",
            [
                ("ResNet-50", "method/resnet-50"),
                ("ResNet", "method/resnet"),
                ("ViT", "method/vision-transformer"),
                ("out-of-distribution detection", "task/out-of-distribution-detection"),
                ("FPR95", "metric/fpr95"),
                ("AUROC", "metric/auroc"),
            ],
        ),
        (
            "Whisper reduces the word error rate (WER) for automatic speech recognition "
            "on LibriSpeech.",
            [
                ("Whisper", "method/whisper"),
                ("word error rate", "metric/word-error-rate"),
                ("WER", "metric/word-error-rate"),
                ("automatic speech recognition", "task/speech-recognition"),
                ("LibriSpeech", "dataset/librispeech"),
            ],
        ),
        (
            "Pretrained vision-language models and knowledge distillation for "
            "Semantic Segmentation on Cityscapes, measured by mIoU and PSNR.",
            [
                ("vision-language models", "method/vision-language-model"),
                ("knowledge distillation", "method/knowledge-distillation"),
                ("Semantic Segmentation", "task/semantic-segmentation"),
                ("Cityscapes", "dataset/cityscapes"),
                ("mIoU", "metric/mean-intersection-over-union"),
            ],
        ),
        (
            "We align the model with DPO instead of RLHF with PPO and report win rate on "
            "AlpacaEval and MT-Bench.",
            [
                ("DPO", "method/direct-preference-optimization"),
                ("RLHF", "method/reinforcement-learning-from-human-feedback"),
                ("PPO", "method/proximal-policy-optimization"),
                ("win rate", "metric/win-rate"),
                ("AlpacaEval", "benchmark/alpacaeval"),
                ("MT-Bench", "benchmark/mt-bench"),
            ],
        ),
    ],
)
def test_finds_expected_entities(nlp: Any, text: str, expected: list[tuple[str, str]]) -> None:
    got = {(t, i) for t, _, i in found(nlp, text)}
    for item in expected:
        assert item in got, (item, sorted(got))


def test_gpt4_and_gpt4o_are_distinct(nlp: Any) -> None:
    got = {(t, i) for t, _, i in found(nlp, "GPT-4 and GPT-4o and BERT and RoBERTa.")}
    assert ("GPT-4", "method/gpt-4") in got
    assert ("GPT-4o", "method/gpt-4o") in got
    assert ("BERT", "method/bert") in got
    assert ("RoBERTa", "method/roberta") in got


@pytest.mark.parametrize(
    "text",
    [
        "The agent visits many places and reads the story in the office.",
        "We read text from the office and tell the story of places we saw.",
        "Places, Text, Office and Story are common words.",
        "Our model and method use a framework of neural networks and deep learning.",
        "Fine-tuning language models improves performance and quality on the task.",
        "We scan the scene and use a seed to run the experiments with the data.",
        "Natural language processing and computer vision are fields of machine learning.",
    ],
)
def test_no_false_positives_on_common_words(nlp: Any, text: str) -> None:
    assert found(nlp, text) == set()


# --- reproducibility --------------------------------------------------------------------------


@pytest.mark.skipif(not (SHARED / "data" / "gazetteer").is_dir(), reason="../shared not present")
def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    assert (
        main(["--shared", str(SHARED), "-o", str(tmp_path), "--curated", str(CURATED), "-q"]) == 0
    )
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
