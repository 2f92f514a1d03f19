"""Entity resolution across papers: a hand-written table of pairs from the seed pages that
must merge and pairs that must stay apart, checked on the resolver's canonical ids; then the
rules on small hand-made inputs (acronyms defined differently, gazetteer conflicts, ids)."""

from __future__ import annotations

import unicodedata

import pytest
from _seed import seed_extractions, seed_resolution
from hypothesis import given
from hypothesis import strategies as st

from kgraph.extractions import Extraction
from kgraph.records import Entity, Mention
from kgraph.resolve import Gazetteer, GazetteerEntry, Resolver, resolve, slugify, surface_key

# A surface form is written as in the seed pages; ("SURFACE", "paper id") picks the entity of
# that paper (for a short form that means different things in different papers), a bare string
# the entity that surface form was most often resolved to.
Surface = str | tuple[str, str]

MUST_MERGE: list[tuple[Surface, Surface]] = [
    # acronym <-> long form, case, plural
    ("large language models", "LLMs"),
    ("LLM", "Large Language Models"),
    ("Large language model", "LLMs"),
    ("Direct Preference Optimization", "DPO"),
    ("direct preference optimization", "DPO"),
    ("reinforcement learning", "RL"),
    ("Reinforcement Learning", "reinforcement learning"),
    ("domain generalization", "DG"),
    ("domain generalisation", "domain generalization"),  # British spelling
    ("Domain Adaptation", "DA"),
    ("supervised fine-tuning", "SFT"),
    ("supervised-finetuning", "Supervised Fine-Tuning"),
    ("in-context learning", "ICL"),
    ("In-Context Learning", "in-context learning"),
    ("instruction tuning", "instruction-tuning"),
    ("Chain-of-Thought", "CoT"),
    ("Chain of Thought", "chain-of-thought"),
    ("knowledge distillation", "KD"),
    ("Vision Transformer", "ViT"),
    ("ViTs", "vision transformers"),
    ("graph neural networks", "GNN"),
    ("GNNs", "GNN"),
    ("unsupervised domain adaptation", "UDA"),
    ("named entity recognition", "NER"),
    ("question answering", "question-answering"),
    ("QA", "question answering"),
    ("Federated Learning", "FL"),
    ("parameter-efficient fine-tuning", "PEFT"),
    ("Parameter-Efficient FineTuning", "PEFT"),
    ("Mixture-of-Experts", "Mixture of Experts"),
    ("MoE", "Mixture-of-Experts"),
    ("stochastic gradient descent", "SGD"),
    ("automatic speech recognition", "ASR"),
    ("convolutional neural networks", "CNNs"),
    ("CNN", "CNNs"),
    ("Monte Carlo Tree Search", "MCTS"),
    ("Retrieval-Augmented Generation", "RAG"),
    ("retrieval augmented generation", "Retrieval-Augmented-Generation"),
    ("pre-trained language models", "PLMs"),
    ("pretrained language model", "pre-trained language model"),
    ("Big-Bench Hard", "BBH"),
    ("Low-Rank Adaptation", "LoRA"),
    ("MLLMs", "multimodal large language models"),
    ("SLMs", "Small Language Models"),
    ("Markov decision processes", "MDPs"),
    ("foundation models", "FMs"),
    ("VLMs", "vision-language models"),
    ("relation extraction", "RE"),
    ("Relation Extraction", "relation extraction"),
    # acronym inside a longer name, parenthesised acronym
    ("Out-of-Distribution Detection", "OOD detection"),
    ("Out-of-distribution (OOD) detection", "OOD detection"),
    # punctuation, hyphen and case variants of names
    ("GPT-4", "GPT4"),
    ("GPT-4", "gpt-4"),
    ("GPT-4o", "GPT-4-o"),
    ("GPT-4V", "GPT-4V(ision)"),
    ("GSM8K", "GSM8k"),
    ("CIFAR-10", "CIFAR10"),
    ("Transformer", "Transformers"),
    ("transformer", "Transformer"),
    ("Llama-2", "LLaMA-2"),
    ("LLaMA2", "Llama-2"),
    ("Llama 3", "LLaMA3"),
    ("LLaMA-3-70B", "LLaMA3-70B"),
    ("F1 score", "F1-score"),
    # known aliases (gazetteer)
    ("ImageNet", "ImageNet-1K"),
    ("MS-COCO", "COCO"),
    ("mathematical reasoning", "math reasoning"),
    ("perplexity", "PPL"),
]

MUST_NOT_MERGE: list[tuple[Surface, Surface]] = [
    # versions, sizes and variants of one family
    ("GPT-4", "GPT-4o"),
    ("GPT-4", "GPT-4V"),
    ("GPT-4", "GPT-4-Turbo"),
    ("GPT-4o", "GPT-4o-mini"),
    ("GPT-3", "GPT-3.5"),
    ("GPT-3.5", "GPT-4"),
    ("GPT", "GPT-3"),
    ("BERT", "RoBERTa"),
    ("BERT", "BERT-CNN"),
    ("BERT", "BERT-uncased"),
    ("Llama-2", "LLaMA-2-7B"),
    ("Llama-2", "Llama2-70B"),
    ("LLaMA-2-7B", "Llama2-70B"),
    ("Llama-2", "Llama 3"),
    ("LLaMA", "Llama-2"),
    ("LLaMA-3-70B", "LLaMA-3-70B-Instruct"),
    ("LLaMA-3-8B", "LLaMA-3-70B"),
    ("Vicuna", "Vicuna-13B"),
    ("Vicuna-7B", "Vicuna-13B"),
    ("Qwen2.5", "Qwen2.5-Math"),
    ("Qwen2-7B", "Qwen2-7B-Instruct"),
    ("Mistral", "Mistral-7B-v0.1"),
    ("Llama3-SWE-RL", "Llama3-SWE-RL-70B"),
    ("CLIP", "CLIP-ReIdent"),
    ("ViT", "ViT-L/14"),
    ("CIFAR-10", "CIFAR-100"),
    ("MMLU", "MMLU-STEM"),
    ("MATH", "MATH500"),
    # one acronym, two meanings (each paper's own definition wins)
    (("CL", "t-c6456ca30257"), ("CL", "t-83d7bfce6421")),  # continual / contrastive learning
    ("continual learning", "contrastive learning"),
    (("SAM", "t-9ff9217d9fcd"), ("SAM", "t-5e7390b37e12")),  # sharpness-aware / segment anything
    ("Sharpness-Aware Minimization", "Segment Anything Model"),
    (("VQA", "t-a7f8a0a7cdbe"), ("VQA", "t-8c025cefd4c8")),  # visual QA / video quality
    (("DRO", "t-59caf8d39efa"), ("DRO", "t-2aa10563c1c4")),
    (("DP", "t-09f26b89ac06"), ("DP", "t-1b535d2a6817")),
    (("DSI", "t-8753dcca1fc4"), ("DSI", "t-7fcb920474de")),
    (("CC", "t-d6648176ba1d"), ("CC", "t-5627928b0030")),  # CommonCrawl / contact-center
    (("EM", "t-0b5dc8c09e36"), ("EM", "t-99874b45ab15")),  # exact match / emergent misalignment
    # a concept and a narrower one
    ("domain adaptation", "unsupervised domain adaptation"),
    ("domain adaptation", "domain generalization"),
    ("UDA", "DA"),
    ("reinforcement learning", "deep reinforcement learning"),
    ("RL", "RLHF"),
    ("large language models", "multimodal large language models"),
    ("LLMs", "MLLMs"),
    ("LLMs", "LMs"),
    ("LLMs", "SLMs"),
    ("Vision Transformer", "Transformer"),
    ("GNN", "CNN"),
    ("PEFT", "LoRA"),
    ("DPO", "PPO"),
    ("accuracy", "balanced accuracy"),
    ("accuracy", "GSM8K accuracy"),
    ("OOD detection", "OOD generalization"),
    ("question answering", "visual question answering"),
    ("relation extraction", "document-level relation extraction"),
    ("relation classification", "few-shot relation classification"),
    ("supervised fine-tuning", "instruction tuning"),
    ("COCO", "COCO detection"),
]


def lookup(surface: Surface) -> str:
    res = seed_resolution()
    found = res.id_for(*surface) if isinstance(surface, tuple) else res.id_for(surface)
    assert found is not None, f"{surface!r} is not in the seed extraction (did extraction change?)"
    return found


def test_table_is_big_enough() -> None:
    assert len(MUST_MERGE) + len(MUST_NOT_MERGE) >= 60
    assert len(MUST_MERGE) >= 30 and len(MUST_NOT_MERGE) >= 30


@pytest.mark.parametrize(("a", "b"), MUST_MERGE, ids=[f"{a}={b}" for a, b in MUST_MERGE])
def test_must_merge(a: Surface, b: Surface) -> None:
    assert lookup(a) == lookup(b)


@pytest.mark.parametrize(("a", "b"), MUST_NOT_MERGE, ids=[f"{a}!={b}" for a, b in MUST_NOT_MERGE])
def test_must_not_merge(a: Surface, b: Surface) -> None:
    assert lookup(a) != lookup(b)


def test_known_ids_are_the_gazetteers() -> None:
    assert lookup("ImageNet") == "dataset/imagenet"
    assert lookup("LLMs") == "method/large-language-model"
    assert lookup("GPT-4o") == "method/gpt-4o"
    assert lookup("GSM8K") == "dataset/gsm8k"


def test_every_per_paper_entity_is_assigned_once() -> None:
    res = seed_resolution()
    exts = seed_extractions()
    assert res.occurrences == sum(len(x.entities) for x in exts)
    assert sum(e.occurrences for e in res.entities.values()) == res.occurrences
    for x in exts:
        assert len(res.assignments[x.paper_id]) == len(x.entities)
        for cid in res.assignments[x.paper_id]:
            assert x.paper_id in res.entities[cid].papers
    assert len(res.entities) < res.occurrences  # something merged


def test_ids_are_typed_slugs_and_surface_forms_kept_with_counts() -> None:
    res = seed_resolution()
    for cid, ent in res.entities.items():
        typ, slug = cid.split("/", 1)
        assert typ == ent.type
        assert slug and "/" not in slug and " " not in slug
        assert ent.aliases and all(n >= 1 for _, n in ent.aliases)
    llm = res.entities["method/large-language-model"]
    forms = dict(llm.aliases)
    assert forms["LLMs"] > 50 and forms["large language models"] > 10
    assert "LLM" in llm.short_forms


def test_resolution_ignores_paper_order() -> None:
    exts = list(seed_extractions())
    a = resolve(exts)
    b = resolve(reversed(exts))
    assert a.entities == b.entities
    assert a.assignments == b.assignments


# --- the rules on hand-made input ------------------------------------------------------------


def ent(name: str, typ: str = "method", *aliases: str, kb: str | None = None) -> Entity:
    mentions = tuple(Mention(0, len(s), s, "test") for s in (name, *aliases))
    return Entity(name, typ, "uses", 0.8, tuple(aliases), mentions, kb)


def ext(pid: str, *entities: Entity, abbr: tuple[tuple[str, str], ...] = ()) -> Extraction:
    return Extraction(pid, pid, entities, abbr)


NO_GAZETTEER = Gazetteer.empty()


def test_acronym_defined_two_ways_stays_two_and_bare_use_is_a_third() -> None:
    res = resolve(
        [
            ext(
                "p1",
                ent("relation classification", "task", "RC"),
                abbr=(("RC", "relation classification"),),
            ),
            ext(
                "p2",
                ent("reading comprehension", "task", "RC"),
                abbr=(("RC", "reading comprehension"),),
            ),
            ext("p3", ent("RC")),
            ext("p4", ent("relation classification", "task")),
        ],
        NO_GAZETTEER,
    )
    rc1, rc2, bare = res.id_for("RC", "p1"), res.id_for("RC", "p2"), res.id_for("RC", "p3")
    assert rc1 == "task/relation-classification"
    assert rc2 == "task/reading-comprehension"
    assert len({rc1, rc2, bare}) == 3
    assert res.id_for("relation classification", "p4") == rc1


def test_acronym_defined_one_way_merges_its_bare_uses() -> None:
    res = resolve(
        [
            ext(
                "p1",
                ent("Direct Preference Optimization", "method", "DPO"),
                abbr=(("DPO", "Direct Preference Optimization"),),
            ),
            ext("p2", ent("DPO")),
            ext("p3", ent("DPOs")),
        ],
        NO_GAZETTEER,
    )
    assert res.id_for("DPO", "p2") == res.id_for("DPO", "p1") == res.id_for("DPOs", "p3")
    assert res.id_for("DPO", "p2") == "method/direct-preference-optimization"


def test_long_forms_differing_in_small_words_are_one_meaning() -> None:
    res = resolve(
        [
            ext(
                "p1",
                ent("reinforcement learning from human feedback", "method", "RLHF"),
                abbr=(("RLHF", "reinforcement learning from human feedback"),),
            ),
            ext(
                "p2",
                ent("reinforcement learning with human feedback", "method", "RLHF"),
                abbr=(("RLHF", "reinforcement learning with human feedback"),),
            ),
            ext("p3", ent("RLHF")),
        ],
        NO_GAZETTEER,
    )
    assert len({res.id_for("RLHF", p) for p in ("p1", "p2", "p3")}) == 1


def test_undefined_acronym_is_a_plain_name() -> None:
    res = resolve([ext("p1", ent("SFT")), ext("p2", ent("SFT"))], NO_GAZETTEER)
    assert res.id_for("SFT", "p1") == res.id_for("SFT", "p2") == "method/sft"


def test_sizes_and_versions_differ_from_their_base() -> None:
    names = [
        "ResNet",
        "ResNet-50",
        "ResNet-101",
        "Llama-2",
        "Llama-2 7B",
        "Llama-2 13B",
        "GPT-4",
        "GPT-4o",
    ]
    res = resolve([ext(f"p{i}", ent(n)) for i, n in enumerate(names)], NO_GAZETTEER)
    assert len({res.id_for(n) for n in names}) == len(names)
    same = resolve(
        [ext("p1", ent("ResNet-50")), ext("p2", ent("ResNet50")), ext("p3", ent("resnet 50"))],
        NO_GAZETTEER,
    )
    assert len(same.entities) == 1


def test_gazetteer_ids_never_merge_and_known_aliases_do() -> None:
    gaz = Gazetteer(
        [
            GazetteerEntry("method/bert", "method", "BERT", ()),
            GazetteerEntry("method/roberta", "method", "RoBERTa", ()),
            GazetteerEntry("dataset/imagenet", "dataset", "ImageNet", ("ILSVRC-2012",)),
        ]
    )
    res = resolve(
        [
            ext("p1", ent("BERT", kb="method/bert")),
            ext("p2", ent("RoBERTa", "method", "BERT", kb="method/roberta")),  # a bad alias
            ext("p3", ent("ILSVRC 2012", "dataset")),  # no gazetteer id from extraction
        ],
        gaz,
    )
    assert res.id_for("BERT", "p1") == "method/bert"
    assert res.id_for("RoBERTa", "p2") == "method/roberta"
    assert res.id_for("ILSVRC 2012", "p3") == "dataset/imagenet"
    assert res.entities["dataset/imagenet"].name == "ImageNet"


def test_gazetteer_id_reached_only_through_an_acronym_the_paper_defines_otherwise() -> None:
    gaz = Gazetteer([GazetteerEntry("method/sam", "method", "Segment Anything Model", ("SAM",))])
    res = resolve(
        [
            ext(
                "p1",
                ent("Sharpness-Aware Minimization", "method", "SAM", kb="method/sam"),
                abbr=(("SAM", "Sharpness-Aware Minimization"),),
            ),
            ext(
                "p2",
                ent("Segment Anything Model", "method", "SAM", kb="method/sam"),
                abbr=(("SAM", "Segment Anything Model"),),
            ),
        ],
        gaz,
    )
    assert res.id_for("SAM", "p2") == "method/sam"
    assert res.id_for("SAM", "p1") == "method/sharpness-aware-minimization"


def test_type_by_majority_with_deterministic_ties() -> None:
    res = resolve(
        [
            ext("p1", ent("relation extraction", "task")),
            ext("p2", ent("relation extraction", "task")),
            ext("p3", ent("Relation Extraction", "method")),
        ],
        NO_GAZETTEER,
    )
    (only,) = res.entities.values()
    assert only.id == "task/relation-extraction" and only.type == "task"
    tie = resolve(
        [ext("p1", ent("Foo", "dataset")), ext("p2", ent("foo", "benchmark"))], NO_GAZETTEER
    )
    (one,) = tie.entities.values()
    assert one.type == "dataset"  # equal votes and confidence: ENTITY_TYPES order


def test_same_slug_for_two_entities_gets_a_stable_suffix() -> None:
    exts = [ext("p1", ent("C++")), ext("p2", ent("C"))]
    a, b = resolve(exts, NO_GAZETTEER), resolve(list(reversed(exts)), NO_GAZETTEER)
    assert sorted(a.entities) == sorted(b.entities)
    assert "method/c" in a.entities and len(a.entities) == 2


def test_resolver_replaces_a_papers_extraction() -> None:
    r = Resolver(NO_GAZETTEER)
    r.add(ext("p1", ent("Foo")))
    r.add(ext("p1", ent("Bar")))
    assert list(r.resolve().entities) == ["method/bar"]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Large Language Models", "large-language model", True),
        ("LLMs", "LLM", True),
        ("GPT-3.5", "GPT-35", False),
        ("GPT-4", "GPT-4o", False),
        ("C++", "C", False),
        ("domain generalisation", "domain generalization", True),
        ("Out-of-distribution (OOD) detection", "out-of-distribution detection", True),
    ],
)
def test_surface_key(a: str, b: str, same: bool) -> None:
    assert (surface_key(a) == surface_key(b)) is same


def test_slugify_matches_gazetteer_ids() -> None:
    assert slugify("GPT-3.5") == "gpt-3-5"
    assert slugify("Llama 2") == "llama-2"
    assert slugify("  ") == "x"
    assert slugify("a_b") == "a-b"  # the underscore is not a letter
    assert slugify("Ｃａｆé²") == "café2"  # NFKC first


def _slug_by_characters(text: str) -> str:
    """The slug rule spelt out a character at a time (slugify does it with one regex)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        if ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-") or "x"


@given(st.text())
def test_slugify_keeps_runs_of_letters_and_digits(text: str) -> None:
    assert slugify(text) == _slug_by_characters(text)
