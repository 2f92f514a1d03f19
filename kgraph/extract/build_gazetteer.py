"""Build the extractor's gazetteer files from curated lists, Papers with Code and NLP-TDMS.

Run from the repository root::

    python -m kgraph.extract.build_gazetteer --shared ../shared -o kgraph/data

Inputs
------
* ``kgraph/data/curated/{methods,metrics,tasks,datasets,benchmarks}.jsonl`` -- the project's own
  hand-written lists, one ``{"name", "type", "aliases", "note"?}`` object a line.
* ``kgraph/data/curated/generic.jsonl`` -- words and phrases that must never become entities
  (generic ML words and whole research fields), one ``{"text", "why"}`` object a line.
* ``<shared>/data/gazetteer/pwc_gazetteer.jsonl`` -- Papers with Code names (CC-BY-SA 4.0).
* ``<shared>/data/gazetteer/nlp_tdms_kb.jsonl`` -- IBM NLP-TDMS lookup lists (Apache-2.0).
* ``<shared>/corpus/*.jsonl.gz`` -- titles and abstracts, used only for token counts (below).

Outputs (in ``-o``, all sorted, byte-identical for identical inputs)
-------------------------------------------------------------------
* ``gazetteer_entities.jsonl`` -- one canonical entity a line:
  ``{"id": "<type>/<slug>", "type", "name", "aliases", "sources"}``.
* ``gazetteer_exact.jsonl`` -- spaCy ``span_ruler`` phrase patterns for a matcher on ``ORTH``
  (case-sensitive): acronyms, CamelCase, names with digits or capitals.
* ``gazetteer_lower.jsonl`` -- phrase patterns for a matcher on ``LOWER`` (case-insensitive):
  lowercase technique, task and metric phrases, written in lowercase.

Pattern lines are ``{"label": type, "pattern": surface, "id": entity id}``.

Filtering rules, in the order they are applied
----------------------------------------------
Every rule that drops something is counted, and the counts are printed when the builder runs.

Curated lists (the project's own decisions) are trusted: they only pass the generic-term rule
(G) and the pattern-conflict rule (P); the corpus rules never drop a curated surface. A curated
surface on the generic list is an error in the lists and is dropped with a warning.

Rules for every Papers with Code (PwC) and NLP-TDMS name, applied to the name before typing:

N1  ``suspect_spam_or_noise`` flag set in the PwC file: dropped.
N2  noise characters (control characters, ``< > { } [ ] | \\ = ; ^ ~ $``, HTML-escape debris,
    SQL-like quotes): dropped.
N3  URLs (``http``, ``www.``, ``.com``, ``.org``) and citations (``et al``): dropped.
N4  trailing parentheticals are removed one at a time. A parenthetical that is an acronym of
    the part before it (one token with two or more capitals whose letters follow the base
    name's letters in order, starting with its first letter, e.g. "Bit per Character (BPC)")
    becomes an alias; any other one ("(English)", "(single model)", "(5-way, 5-shot)") is
    split or configuration information and is stripped. A name still holding a parenthesis
    after that is dropped.
N5  a ``: `` (colon and space) splits a title from a description: the part before it is kept
    when it is a single token ("SC2EGSet: StarCraft II ..." -> "SC2EGSet"), otherwise the
    name is dropped. A `` - `` (spaced dash) splits a name from a configuration: the part
    before it is kept ("ImageNet-100 - 50 classes + 25 steps" -> "ImageNet-100").
N6  split suffixes written in lowercase ("test-dev", "val", "test", "dev", "minival",
    "val2017", "set", "split", ...) are removed from the end ("COCO test-dev" -> "COCO");
    capitalised words are kept since they are part of a name ("Story Cloze Test"). A name
    that still ends in "split" or "subset" names a configuration and is dropped.
N7  not a name: fewer than 2 characters, more than 60 characters, no letter, more than 6
    words, or a leading bare count ("100 sleep nights of 8 caregivers", "10,000 People").
N8  sentence-like: contains a verb or clause word (is, are, was, were, when, where, which,
    that, reached, trained, tested, using, we, our, ...): dropped.

Typing of PwC names:

T1  ``method_or_model`` -> method; ``task`` -> task; ``metric`` -> metric (if it passes M*).
T2  ``benchmark`` entries are the dataset names of PwC SOTA tables: they become ``benchmark``
    when the name contains "bench" or "Eval"/"eval" as a word start (spec rule), otherwise
    ``dataset``; the same bench/eval rule turns PwC ``dataset`` entries into benchmarks.
    A surface on the curated lists takes the curated type in any case (rule C).

Rules by type (PwC and NLP-TDMS). A name whose match key (rule C) is a curated name or alias
skips D1-D4, K1-K3 and M2-M3: the curated decision governs it.

D1  dataset/benchmark/method names must look like names: at least one capital letter or
    digit ("big content", "tedtt" are dropped); datasets with an underscore are identifiers
    or configurations ("call_home_american_english_speech", "MMM2_7m2M1M_vs_9m3M1M"), and
    dataset names with "%" are configurations ("COCO 1% labeled data").
D2  names and aliases of at most two characters ("AS", "UD", "CR", "ID") are too ambiguous.
D3  a trailing word "Dataset"/"dataset"/"Corpus"/"corpus" gives an extra alias without it
    ("CIDII Dataset" -> alias "CIDII") when what is left still looks like a name.
D4  methods: SOTA-table leaderboard rows are not methods -- names with a leading embedding
    size ("300D ..."), combinations with "+", units ("%", "MHz", "MB"), more than 4 words,
    submission handles and labels (an underscore, the words ensemble, baseline, model,
    single, submission, team, final), a trailing year ("Mitsuku 2015"), citations
    ("Ma and Hovy") or characters other than letters, digits, space and - . ' / & are
    dropped.
K1  tasks: underscores become spaces (NLP-TDMS ``machine_translation``), title-case words are
    lowercased ("Image Classification" -> "image classification"; acronyms and words with
    digits keep their case), language-pair configurations ("Translation crh-deu") and names
    of more than 5 words are dropped.
K3  one-word tasks are dropped: corpus counts cannot tell a task word ("pansharpening", 20
    uses) from an English word PwC lists as a task ("friction", 15); the useful ones are in
    the curated list.
K2  tasks must end in a task-like head word: a word ending in -ing, -tion, -sion, -sis,
    -ment, -ance/-ence or -ity, or one of a short list (retrieval, search, recommendation,
    QA, attack, ...). Game names, object names and phrases ("Montezuma's Revenge",
    "Transparent objects") are dropped.
M1  metrics: split words are removed from the start or end ("Test perplexity",
    "Validation MRR", "Accuracy on Books" -> "perplexity", "MRR", "accuracy"), then title
    case is lowercased as for tasks; an acronym alias from N4 is kept only if it still
    abbreviates the shortened name ("Accuracy on ACL Tear (ACL)" does not give "ACL").
M2  metrics must look like an evaluation measure: at most 4 words, at least one of them a
    measure word (accuracy, F1, BLEU, ROUGE-L, mAP, IoU, PSNR, WER, MRR, Hits@10, pass@1,
    perplexity, ...) and every other word a measure modifier (top-1, macro, weighted, mean,
    average, rate, score, ...). Column headers such as "Params", "Backbone", "Model size",
    "Extra Training Data", "Number of params" never pass.
M3  a single-word metric must be an acronym or contain a digit or ``@`` ("mAP", "SSIM",
    "Hits@10"): a plain English word from PwC ("Success", "Coverage", "Diversity") is
    dropped. Plain-word metrics come from the curated list only.

Generic and common-word rules (all sources):

G   the surface (lowercased, hyphens and spaces unified) is on the generic list: dropped.
S   stop words: a surface made only of spaCy English stop words ("the", "one", "more",
    "All", "IT") is dropped.

Corpus ambiguity rules (PwC and NLP-TDMS surfaces only), using token counts over the first
15,000 abstracts of each ``<shared>/corpus/*.jsonl.gz`` file (30,000 in all, abstracts only,
since titles are title case), tokenized with ``spacy.blank("en")``. A token is
sentence-initial when it starts the abstract or follows ``. ! ? : ;``; only non-initial
occurrences are counted. For a surface, ``exact`` counts its exact-case token sequence and
``lower`` its all-lowercase sequence. Only the keep/drop decision is stored, never counts or
text.

A1  plain-word names (every word alphabetic, title case or lowercase, e.g. "Places",
    "Story", "Office", "Text", "Object Discovery") as EXACT patterns: dropped when the
    lowercase form is a running-text phrase, ``lower >= 3 * max(exact, 1)`` and
    ``lower >= 3`` -- they fire on ordinary words in titles and at sentence starts.
A2  all-capital words ("SCAN", "SEED", "WISDOM"): dropped when
    ``lower >= 5 * max(exact, 1)`` and ``lower >= 10``, i.e. the word is far more often the
    plain English word (SCAN: 16 exact, 127 lowercase).
A4  dataset/benchmark/method acronyms of at most three capital letters that are common in
    abstracts (``exact >= 10``: "CAD", "PET", "MMD", "CPU", "SOD") are dropped: such an
    acronym mostly stands for something else than the PwC dataset.
A3  single lowercase words used as LOWER patterns (PwC one-word tasks such as
    "denoising", "chunking"): dropped when frequent in running text (``lower >= 30``,
    about one abstract in a thousand), since such a word is mostly used in its generic sense.
    Names with digits, internal capitals or symbols are distinctive and pass A1-A3.
    (A3 now rarely fires, since K3 drops one-word tasks before it.)

Merging and conflicts:

C   a PwC/NLP-TDMS name whose match key (lowercase letters and digits only, British
    spellings "modelling"/"labelling"/"-isation" folded) equals a curated name or alias joins
    that curated entity when the types agree (dataset and benchmark count as agreeing) and
    is dropped when they do not: curated entries win type conflicts ("reinforcement
    learning" is a PwC task, a curated method). A name whose alias (e.g. its acronym) is a
    curated surface of a compatible type joins that entity too ("Street View House Numbers
    (SVHN)" joins SVHN).
X   other names are grouped by match key, and groups are linked when an alias of one is the
    name of another of a compatible type ("RELLIS-3D Dataset" + "RELLIS-3D"); the group's
    type, when PwC gives it several:
    a metric that passed M1-M3 wins; dataset+benchmark -> benchmark; task vs dataset/
    benchmark -> dataset/benchmark when the name is name-shaped (a digit, an internal capital
    or an all-capital word), else task; any other mix (e.g. method vs task) is dropped.
    The canonical name of a group is its most frequent form in the corpus counts, ties
    broken by number of sources then alphabetically.

Patterns:

L   matcher choice: task and metric surfaces of two or more tokens, curated method surfaces
    with an all-lowercase word ("Bayesian optimization"; PwC method names in sentence case
    are leaderboard labels, kept case-sensitive), and all-lowercase surfaces go to LOWER
    (written in lowercase); everything else ("BERT", "ImageNet", "GPT-4o", "Stable
    Diffusion", "The Pile") goes to EXACT. An EXACT surface whose lowercase form is a LOWER
    pattern of the same entity is redundant and left out.
V   variants, since the blank pipeline has no lemmatizer: for LOWER surfaces every hyphen
    between letters (up to four in a surface) may also be a space ("chain-of-thought" /
    "chain of thought") and, after the prefixes pre, re, co, multi, non, semi and fine,
    nothing ("pre-trained" / "pretrained"); a solid prefix word ending in trained, training,
    tuning, tuned, modal, supervised, ... gets the hyphenated form ("pretrained" ->
    "pre-trained"); British/American "-isation/-ization", "modelling/modeling",
    "labelling/labeling"; for multi-word method and metric names the plural/singular of the
    last word ("large language model" / "large language models"). For EXACT surfaces a
    hyphen between a letter and a digit may be dropped ("CIFAR-10" / "CIFAR10"). Variants
    on the generic list are not generated.
P   one pattern key (token sequence, lowercased for LOWER) claimed by two entities: the
    curated entity wins, then the entity whose canonical name it is, then type order
    method, dataset, benchmark, task, metric, then id. An EXACT pattern that lowercases to
    another entity's LOWER pattern is resolved the same way. Entities left with no pattern
    are dropped.

Ids are ``<type>/<slug>`` with slug = the canonical name lowercased, every run of characters
that are not letters or digits replaced by '-', trimmed; two entities with the same id get
"-2", "-3", ... (curated first, then by name). Ids therefore change only when a canonical
name changes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records import slugify

TYPES: tuple[str, ...] = ("method", "dataset", "benchmark", "task", "metric")
TYPE_ORDER: dict[str, int] = {t: i for i, t in enumerate(TYPES)}
CURATED_FILES: dict[str, str] = {
    "methods.jsonl": "method",
    "metrics.jsonl": "metric",
    "tasks.jsonl": "task",
    "datasets.jsonl": "dataset",
    "benchmarks.jsonl": "benchmark",
}
SOURCE_ORDER: dict[str, int] = {"curated": 0, "pwc": 1, "nlp-tdms": 2}
CORPUS_DOCS_PER_FILE = 15_000

EXACT_FILE = "gazetteer_exact.jsonl"
LOWER_FILE = "gazetteer_lower.jsonl"
ENTITIES_FILE = "gazetteer_entities.jsonl"

# ---------------------------------------------------------------------------------------------
# word lists used by the rules

NOISE_RE = re.compile(r"[\x00-\x1f\x7f<>{}\[\]|\\=;^~$]|wzxhzdk|' AND |\bAND '")
URL_RE = re.compile(r"(?i)https?:|www\.|\.com\b|\.org\b")
CITATION_RE = re.compile(r"(?i)\bet al\b")
TRAILING_PAREN_RE = re.compile(r"^(.*\S)\s*\(([^()]*)\)$")
SPLIT_SUFFIXES = frozenset(
    [
        "test",
        "val",
        "validation",
        "dev",
        "train",
        "training",
        "testing",
        "test-dev",
        "test-std",
        "test-challenge",
        "testdev",
        "minival",
        "minitest",
        "val2014",
        "val2017",
        "test2015",
        "test2017",
        "test2014",
        "set",
        "split",
        "subset",
        "testa",
        "testb",
        "test-a",
        "test-b",
    ]
)
SENTENCE_WORDS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "when",
        "where",
        "which",
        "that",
        "reached",
        "trained",
        "tested",
        "using",
        "used",
        "we",
        "our",
        "us",
        "you",
        "this",
        "these",
        "those",
        "can",
        "could",
        "should",
        "would",
        "will",
    ]
)
LEADING_COUNT_RE = re.compile(r"^\d[\d,.]*$")
BENCH_EVAL_RE = re.compile(r"(?i:bench)|Eval|\beval")
LANG_PAIR_RE = re.compile(r"(?i)^translation\s+\S+-\S+$|_[A-Z][a-z]{3}\b")
DIM_PREFIX_RE = re.compile(r"^\d{2,4}[Dd]\b")
METHOD_UNIT_RE = re.compile(r"%|\bMHz\b|\bGHz\b|\b\d+MB\b|\bMB\b")
METHOD_ROW_RE = re.compile(
    r"_|(?i:\b(?:ensemble|baseline\d*|model|single|submission|team|final)\b)"
    r"|\b(?:19|20)\d\d$|^[A-Z][a-z]+ (?:and|&) [A-Z][a-z]+$"
)
METHOD_CHARS_RE = re.compile(r"[\w\s\-.'/&]+")
DATASET_WORD_RE = re.compile(r"\s+(?:[Dd]ataset|[Cc]orpus)$")

TASK_HEAD_SUFFIXES: tuple[str, ...] = (
    "ing",
    "tion",
    "sion",
    "sis",
    "ment",
    "ance",
    "ence",
    "ity",
)
TASK_HEADS = frozenset(
    [
        "retrieval",
        "search",
        "recommendation",
        "qa",
        "vqa",
        "attack",
        "attacks",
        "defense",
        "jailbreak",
        "synthesis",
        "generation",
        "forecast",
        "forecasting",
        "navigation",
        "control",
        "slam",
        "ocr",
        "re-id",
        "reid",
        "odometry",
        "super-resolution",
        "inpainting",
        "captioning",
        "summarization",
        "translation",
        "detection",
        "segmentation",
        "recognition",
        "classification",
        "estimation",
        "prediction",
        "completion",
        "reasoning",
        "answering",
        "extraction",
        "parsing",
        "tagging",
        "matching",
        "tracking",
        "alignment",
        "localization",
        "localisation",
        "reconstruction",
        "retargeting",
        "editing",
        "restoration",
        "enhancement",
        "removal",
        "transfer",
        "discovery",
        "diagnosis",
        "analysis",
        "verification",
        "identification",
        "understanding",
        "grounding",
        "labeling",
        "labelling",
        "modeling",
        "modelling",
        "simplification",
        "correction",
        "resolution",
        "disambiguation",
        "normalization",
        "normalisation",
        "linking",
        "typing",
        "induction",
        "inference",
        "imputation",
        "interpolation",
        "compression",
        "registration",
        "counting",
        "planning",
        "manipulation",
        "grasping",
        "locomotion",
        "diarization",
        "separation",
        "spotting",
        "transcription",
        "conversion",
        "repair",
        "review",
        "scoring",
        "ranking",
        "reranking",
        "sr",
        "asr",
        "tts",
        "nli",
        "ner",
        "srl",
        "wsd",
        "mt",
    ]
)
# M2: measure words (lowercase, whole token) and modifiers.
MEASURE_RES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"acc(uracy)?(@\S+)?",
        r"f1(-score|-measure)?",
        r"f-?(score|measure)",
        r"f0\.5|f2|f-1",
        r"precision(@\S+)?",
        r"recall(@\S+)?",
        r"(sacre)?bleu(-?\d)?",
        r"rouge(-?(\d|l|lsum|su4|w))?",
        r"meteor|cider(-d)?|spice|chrf(\+\+)?|ter|comet|bertscore|bleurt|gleu|sari|smatch",
        r"m?ap(\d+|@\S+|_?[sml]|-?50|-?75)?",
        r"ap(box|mask)|box\s?ap|mask\s?ap",
        r"au(c|roc|pr|prc)(-(roc|pr))?",
        r"roc-auc|pr-auc",
        r"m?iou(@\S+)?",
        r"dice|dsc|psnr|ssim|ms-ssim|lpips|fid|kid|fvd|fad|niqe|brisque|vmaf",
        r"wer|cer|eer|mos|mrr(@\S+)?|n?dcg(@\S+)?|hits?@\S+|h@\S+|r@\S+|p@\S+",
        r"mae|mse|rmse|mape|smape|mase|crps|nll|ppl|perplexity|bpc|bpd|bpb",
        r"em|smatch|las|uas|mota|motp|idf1|hota|pq|sq|rq|ade|fde|mpjpe|pa-mpjpe|pck(@\S+)?",
        r"epe|absrel|abs-rel|rmsd|lddt|tm-score|spl|elo|ece|nmi|ari|mcc",
        r"pass@\S+|top-?\d+|top-?k",
        r"correlation|kappa|tau|rho|pearson|spearman|kendall",
        r"perplexity|entropy|cross-entropy|log-likelihood|likelihood|divergence",
        r"bits?-per-(character|byte|dimension|dim)",
    )
)
MEASURE_MODIFIERS = frozenset(
    [
        "top-1",
        "top-5",
        "top1",
        "top5",
        "top-k",
        "micro",
        "macro",
        "weighted",
        "balanced",
        "mean",
        "average",
        "avg",
        "overall",
        "absolute",
        "relative",
        "rel",
        "abs",
        "normalized",
        "normalised",
        "micro-averaged",
        "macro-averaged",
        "exact",
        "token-level",
        "sentence-level",
        "word-level",
        "character-level",
        "char-level",
        "case-insensitive",
        "case-sensitive",
        "tokenized",
        "detokenized",
        "box",
        "mask",
        "bbox",
        "rate",
        "score",
        "scores",
        "ratio",
        "index",
        "coefficient",
        "distance",
        "error",
        "per-class",
        "class-wise",
        "unweighted",
        "at",
        "of",
        "per",
        "bits",
        "character",
        "byte",
        "dimension",
        "match",
        "word",
        "unigram",
        "bigram",
        "n-gram",
        "negative",
        "log",
        "root",
        "squared",
        "absolute",
        "success",
        "win",
        "hit",
        "miss",
        "false",
        "true",
        "positive",
        "negative",
        "class",
        "instance",
        "pixel",
        "frame",
        "clip",
        "video",
        "image",
        "f1",
        "map",
    ]
)
METRIC_SPLIT_WORDS = frozenset(["test", "validation", "val", "dev", "train", "training", "eval"])

PREFIXES_JOINABLE = frozenset(["pre", "re", "co", "multi", "non", "semi", "fine"])
GENERIC_NORM_RE = re.compile(r"[\s\-‐-―]+")
SENTENCE_END = frozenset(".!?:;")


# ---------------------------------------------------------------------------------------------
# small helpers


def match_key(text: str) -> str:
    """Key used to merge spellings of one name: lowercase letters and digits only."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = s.replace("modelling", "modeling").replace("labelling", "labeling")
    s = s.replace("isation", "ization").replace("isations", "izations")
    return "".join(ch for ch in s if ch.isalnum())


def generic_norm(text: str) -> str:
    """Normal form used to compare a surface with the generic list."""
    return GENERIC_NORM_RE.sub(" ", text.lower()).strip()


def is_acronym_of(acro: str, base: str) -> bool:
    """True when ``acro`` (e.g. "BPC") abbreviates ``base`` (e.g. "Bit per Character")."""
    if " " in acro or sum(1 for c in acro if c.isupper()) < 2 or len(base.split()) < 2:
        return False
    letters = [c.lower() for c in acro if c.isalpha()]
    chars = [c.lower() for c in base if c.isalpha()]
    if not letters or not chars or letters[0] != chars[0]:
        return False
    it = iter(chars)
    return all(any(c == x for x in it) for c in letters)


def lowercase_titlecase_words(name: str) -> str:
    """ "Image Classification" -> "image classification"; "3D Object" -> "3D object"."""
    words = []
    for w in name.split(" "):
        parts = w.split("-")
        parts = [
            p.lower() if p[:1].isupper() and p[1:].islower() and p.isalpha() else p for p in parts
        ]
        words.append("-".join(parts))
    return " ".join(words)


def word_shape(tokens: Sequence[str]) -> str:
    """Classify a token sequence: 'plain', 'caps', 'lower' or 'distinctive'."""
    words = [t for t in tokens if t != "-"]
    if not words or any(not t.isalpha() for t in words):
        return "distinctive"
    if all(t.islower() for t in words):
        return "lower"
    if len(words) == 1 and words[0].isupper() and len(words[0]) >= 2:
        return "caps"
    if all(t.islower() or (t[0].isupper() and (t[1:].islower() or len(t) == 1)) for t in words):
        return "plain"
    return "distinctive"


def pluralize(word: str) -> str | None:
    if not word.isalpha() or len(word) < 3:
        return None
    if word.endswith(
        (
            "ing",
            "ed",
            "ion",
            "ness",
            "ity",
            "ics",
            "ism",
            "s",
            "ment",
            "ance",
            "ence",
            "ware",
            "ship",
            "y2",
        )
    ):
        return None
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if word.endswith(("x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def singularize(word: str) -> str | None:
    if not word.isalpha() or len(word) < 4 or not word.endswith("s"):
        return None
    if word.endswith(("ss", "us", "is", "ics", "ous")):
        return None
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes", "zes")):
        return word[:-2]
    return word[:-1]


# ---------------------------------------------------------------------------------------------
# data classes


@dataclass
class Candidate:
    """One name from one source, cleaned and typed."""

    type: str
    name: str
    aliases: list[str]
    source: str
    origin_type: str = ""


@dataclass
class Entity:
    type: str
    name: str
    surfaces: list[str]
    sources: set[str]
    curated: bool
    id: str = ""
    aliases: list[str] = field(default_factory=list)


@dataclass
class Pattern:
    label: str
    pattern: str
    id: str
    lower: bool


class DropLog:
    """Counts of what each rule dropped, with a few examples."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def drop(self, rule: str, example: str) -> None:
        self.counts[rule] += 1
        if len(self.examples[rule]) < 4:
            self.examples[rule].append(example)

    def report(self, out: Any) -> None:
        for rule in sorted(self.counts):
            ex = "; ".join(repr(e) for e in self.examples[rule])
            print(f"  {rule:<52} {self.counts[rule]:>6}   e.g. {ex}", file=out)


class Drop(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


# ---------------------------------------------------------------------------------------------
# loading


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    yield obj


def load_curated(curated_dir: Path) -> list[Candidate]:
    out: list[Candidate] = []
    for fname, typ in CURATED_FILES.items():
        for obj in read_jsonl(curated_dir / fname):
            if obj.get("type") != typ:
                raise ValueError(f"{fname}: {obj.get('name')!r} has type {obj.get('type')!r}")
            name = str(obj["name"]).strip()
            aliases = [str(a).strip() for a in obj.get("aliases", []) if str(a).strip()]
            out.append(Candidate(typ, name, aliases, "curated", typ))
    return out


def load_generic(curated_dir: Path) -> set[str]:
    return {generic_norm(str(o["text"])) for o in read_jsonl(curated_dir / "generic.jsonl")}


# ---------------------------------------------------------------------------------------------
# cleaning of PwC / NLP-TDMS names (rules N*, T*, D*, K*, M*)


def clean_common(raw: str) -> tuple[str, list[str]]:
    """Rules N2-N8. Returns (name, extra aliases) or raises Drop."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if NOISE_RE.search(name):
        raise Drop("N2 noise characters")
    if URL_RE.search(name) or CITATION_RE.search(name):
        raise Drop("N3 URL or citation")
    extra: list[str] = []
    if ": " in name:
        head = name.split(": ", 1)[0].strip()
        if " " in head or len(head) < 2:
            raise Drop("N5 title: description")
        name = head
    if " - " in name:
        name = name.split(" - ", 1)[0].strip()
    while True:
        m = TRAILING_PAREN_RE.match(name)
        if not m:
            break
        base, inner = m.group(1).strip(), m.group(2).strip()
        if is_acronym_of(inner, base):
            extra.append(inner)
        name = base
    if "(" in name or ")" in name:
        raise Drop("N4 inner parenthetical")
    words = name.split()
    while len(words) > 1 and words[-1] in SPLIT_SUFFIXES:
        words.pop()
    name = " ".join(words)
    if words and words[-1].lower() in {"split", "subset", "splits"}:
        raise Drop("N6 split/configuration name")
    if len(name) < 2 or len(name) > 60 or not any(c.isalpha() for c in name):
        raise Drop("N7 not a name (length/letters)")
    if len(words) > 6:
        raise Drop("N7 not a name (more than 6 words)")
    if len(words) > 1 and LEADING_COUNT_RE.match(words[0]):
        raise Drop("N7 not a name (leading count)")
    if any(w in SENTENCE_WORDS for w in words):
        raise Drop("N8 sentence-like")
    return name, extra


def looks_like_name(s: str) -> bool:
    return any(c.isupper() or c.isdigit() for c in s)


def clean_task(name: str) -> str:
    name = " ".join(name.replace("_", " ").split())
    if LANG_PAIR_RE.search(name):
        raise Drop("K1 task: language-pair configuration")
    if len(name.split()) > 5:
        raise Drop("K1 task: more than 5 words")
    if " " not in name.strip():
        raise Drop("K3 task: single word")
    name = lowercase_titlecase_words(name)
    head = name.split()[-1].split("-")[-1].lower()
    if not (
        head.endswith(TASK_HEAD_SUFFIXES)
        or head in TASK_HEADS
        or name.split()[-1].lower() in TASK_HEADS
    ):
        raise Drop("K2 task: no task-like head word")
    return name


def is_measure_token(tok: str) -> bool:
    return any(r.fullmatch(tok) for r in MEASURE_RES)


def strip_metric(name: str) -> str:
    """Rule M1: remove split words and "on <subset>" from a metric name."""
    name = re.sub(r"\s+on\s+.*$", "", name)
    words = name.split()
    while len(words) > 1 and words[0].lower() in METRIC_SPLIT_WORDS:
        words.pop(0)
    while len(words) > 1 and words[-1].lower() in METRIC_SPLIT_WORDS:
        words.pop()
    return " ".join(words)


def check_metric(name: str) -> str:
    """Rules M2, M3 on a stripped metric name; returns the canonical form."""
    words = name.split()
    low = [w.lower() for w in words]
    if len(words) > 4:
        raise Drop("M2 metric: more than 4 words")
    if (
        not words
        or not any(is_measure_token(w) for w in low)
        or not all(
            is_measure_token(w) or w in MEASURE_MODIFIERS or re.fullmatch(r"[@\d.%/k-]+", w)
            for w in low
        )
    ):
        raise Drop("M2 metric: not an evaluation measure")
    if len(words) == 1:
        w = words[0]
        if w.isalpha() and sum(1 for c in w if c.isupper()) < 2:
            raise Drop("M3 metric: plain single word")
        if len(w) <= 1:
            raise Drop("D2 two characters or fewer")
        return w
    return lowercase_titlecase_words(name)


def clean_external(
    raw_type: str,
    raw_name: str,
    source: str,
    log: DropLog,
    curated_keys: frozenset[str] = frozenset(),
) -> Candidate | None:
    """Apply rules N*, T*, D*, K*, M* to one PwC or NLP-TDMS row.

    A name whose match key is a curated name or alias skips the type-specific rules (D*, K*,
    M*): the curated decision governs it (rule C).
    """
    try:
        if raw_type == "task":
            raw_name = raw_name.replace("_", " ")
        name, extra = clean_common(raw_name)
        if raw_type == "method_or_model":
            typ = "method"
        elif raw_type in ("dataset", "benchmark"):
            typ = "benchmark" if BENCH_EVAL_RE.search(name) else "dataset"
        elif raw_type in ("task", "metric"):
            typ = raw_type
        else:
            raise Drop("T1 unknown type")
        if typ == "metric":
            stripped = strip_metric(name)
            if stripped != name:
                extra = [a for a in extra if is_acronym_of(a, stripped)]
            name = stripped
        if match_key(name) in curated_keys:
            return Candidate(typ, name, [a for a in extra if a != name], source, raw_type)
        if typ in ("dataset", "benchmark", "method"):
            if not looks_like_name(name):
                raise Drop(f"D1 {typ}: no capital or digit")
            if typ == "dataset" and "_" in name:
                raise Drop("D1 dataset: identifier with underscore")
            if typ in ("dataset", "benchmark") and "%" in name:
                raise Drop("D1 dataset: configuration with %")
            if len(name) <= 2:
                raise Drop("D2 two characters or fewer")
            if typ == "method":
                if DIM_PREFIX_RE.match(name):
                    raise Drop("D4 method: leaderboard row (embedding size)")
                if "+" in name.rstrip("+") or METHOD_UNIT_RE.search(name):
                    raise Drop("D4 method: leaderboard row (combination/units)")
                if len(name.split()) > 4:
                    raise Drop("D4 method: more than 4 words")
                if METHOD_ROW_RE.search(name) or not METHOD_CHARS_RE.fullmatch(name):
                    raise Drop("D4 method: leaderboard row (handle/year/ensemble/citation)")
            m = DATASET_WORD_RE.search(name)
            if typ in ("dataset", "benchmark") and m:
                short = name[: m.start()].strip()
                if len(short) > 2 and looks_like_name(short) and " " not in short:
                    extra.append(short)
        elif typ == "task":
            name = clean_task(name)
            extra = []
        else:
            name = check_metric(name)
            # M1 may have cut the words an acronym stood for ("Accuracy on ACL Tear (ACL)")
            extra = [a for a in extra if is_acronym_of(a, name)]
        return Candidate(typ, name, [a for a in extra if a != name], source, raw_type)
    except Drop as d:
        log.drop(d.rule, raw_name)
        return None


def load_external(
    shared: Path, log: DropLog, curated_keys: frozenset[str] = frozenset()
) -> list[Candidate]:
    out: list[Candidate] = []
    gdir = shared / "data" / "gazetteer"
    for obj in read_jsonl(gdir / "pwc_gazetteer.jsonl"):
        name = str(obj.get("name", ""))
        if obj.get("suspect_spam_or_noise"):
            log.drop("N1 flagged suspect_spam_or_noise", name)
            continue
        c = clean_external(str(obj.get("type", "")), name, "pwc", log, curated_keys)
        if c is not None:
            out.append(c)
    for obj in read_jsonl(gdir / "nlp_tdms_kb.jsonl"):
        c = clean_external(
            str(obj.get("type", "")), str(obj.get("name", "")), "nlp-tdms", log, curated_keys
        )
        if c is not None:
            out.append(c)
    return out


# ---------------------------------------------------------------------------------------------
# corpus statistics (rules A*)


class CorpusCounts:
    """Non-sentence-initial counts of chosen token sequences in a corpus sample.

    Uses its own ``spacy.blank("en")``: a tokenizer that has already seen thousands of odd
    gazetteer names gets markedly slower on running text.
    """

    def __init__(self, sequences: Iterable[tuple[str, ...]]) -> None:
        import spacy

        nlp = spacy.blank("en")
        self.nlp = nlp
        strings = nlp.vocab.strings
        self.ids: dict[tuple[str, ...], tuple[int, ...]] = {}
        self.counts: Counter[tuple[int, ...]] = Counter()
        self.by_first: dict[int, set[int]] = defaultdict(set)
        self.wanted: set[tuple[int, ...]] = set()
        for seq in sequences:
            if seq:
                ids = tuple(int(strings.add(t)) for t in seq)
                self.ids[seq] = ids
                self.wanted.add(ids)
                self.by_first[ids[0]].add(len(ids))
        self.sentence_end = {int(strings.add(t)) for t in SENTENCE_END}
        self.docs = 0

    def feed(self, texts: Iterable[str]) -> None:
        from spacy.attrs import ORTH

        by_first, wanted, counts, ends = self.by_first, self.wanted, self.counts, self.sentence_end
        tokenizer: Any = self.nlp.tokenizer
        for doc in tokenizer.pipe(texts, batch_size=1000):
            self.docs += 1
            words: list[int] = doc.to_array(ORTH).tolist()
            prev_end = True
            for i, w in enumerate(words):
                if not prev_end:
                    lens = by_first.get(w)
                    if lens:
                        for n in lens:
                            seq = tuple(words[i : i + n])
                            if seq in wanted:
                                counts[seq] += 1
                prev_end = w in ends

    def get(self, seq: tuple[str, ...]) -> int:
        ids = self.ids.get(seq)
        return self.counts.get(ids, 0) if ids is not None else 0


def corpus_texts(corpus_dir: Path, per_file: int) -> Iterator[str]:
    files = sorted(corpus_dir.glob("*.jsonl.gz"))
    if not files:
        raise FileNotFoundError(f"no *.jsonl.gz under {corpus_dir}")
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            n = 0
            for line in f:
                if n >= per_file:
                    break
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                text = obj.get("abstract") if isinstance(obj, dict) else None
                if isinstance(text, str) and text.strip():
                    n += 1
                    yield " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# the builder


class Builder:
    def __init__(self, curated_dir: Path, shared: Path, log_out: Any = sys.stdout) -> None:
        import spacy  # local import: building is the only place that needs spaCy here

        self.nlp = spacy.blank("en")
        self.stop_words: frozenset[str] = frozenset(self.nlp.Defaults.stop_words)
        self.curated_dir = curated_dir
        self.shared = shared
        self.log = DropLog()
        self.out = log_out
        self._tok_cache: dict[str, tuple[str, ...]] = {}
        self.used_surfaces: set[tuple[str, str]] = set()

    def tokens(self, text: str) -> tuple[str, ...]:
        toks = self._tok_cache.get(text)
        if toks is None:
            toks = tuple(t.text for t in self.nlp.tokenizer(text))
            self._tok_cache[text] = toks
        return toks

    # -- rules G, S, A ---------------------------------------------------------------------

    def surface_problem(
        self, surface: str, typ: str, curated: bool, generic: set[str], counts: CorpusCounts | None
    ) -> str | None:
        if generic_norm(surface) in generic:
            return "G generic term" + (" (curated: fix the lists)" if curated else "")
        if curated:
            return None
        if len(surface) <= 2:
            return "D2 two characters or fewer"
        toks = self.tokens(surface)
        words = [t for t in toks if any(c.isalnum() for c in t)]
        if words and all(w.lower() in self.stop_words for w in words):
            return "S stop words"
        if counts is None:
            return None
        shape = word_shape(toks)
        lower_seq = tuple(t.lower() for t in toks)
        exact = counts.get(toks)
        lower = counts.get(lower_seq)
        if shape == "plain" and not self.is_lower_surface(surface, typ):
            if lower >= 3 * max(exact, 1) and lower >= 3:
                return "A1 plain word(s), lowercase form common"
        elif shape == "caps":
            if lower >= 5 * max(exact, 1) and lower >= 10:
                return "A2 all-caps word, lowercase form common"
            if len(surface) <= 3 and exact >= 10 and typ in ("dataset", "benchmark", "method"):
                return "A4 short acronym common in abstracts"
        elif shape == "lower" and len(words) == 1 and lower >= 30:
            return "A3 single lowercase word frequent in running text"
        return None

    def is_lower_surface(self, surface: str, typ: str, curated: bool = False) -> bool:
        """Rule L: does this surface go to the case-insensitive matcher?"""
        if surface == surface.lower():
            return True
        toks = [t for t in self.tokens(surface) if t != "-"]
        if typ in ("task", "metric"):
            return len(toks) > 1
        if typ == "method" and curated:
            return len(toks) > 1 and any(t.isalpha() and t.islower() for t in toks)
        return False

    # -- main steps ------------------------------------------------------------------------

    def build(self) -> tuple[list[Entity], list[Pattern]]:
        generic = load_generic(self.curated_dir)
        curated = load_curated(self.curated_dir)
        curated_keys = frozenset(match_key(s) for c in curated for s in [c.name, *c.aliases])
        external = load_external(self.shared, self.log, curated_keys)

        # corpus statistics for every external surface (and its lowercase form)
        seqs: set[tuple[str, ...]] = set()
        for c in external:
            for s in [c.name, *c.aliases]:
                toks = self.tokens(s)
                seqs.add(toks)
                seqs.add(tuple(t.lower() for t in toks))
        counts = CorpusCounts(seqs)
        counts.feed(corpus_texts(self.shared / "corpus", CORPUS_DOCS_PER_FILE))
        print(f"corpus sample: {counts.docs} abstracts", file=self.out)

        entities = self.merge(curated, external, generic, counts)
        patterns = self.make_patterns(entities, generic)
        return self.finish(entities, patterns)

    def merge(
        self,
        curated: list[Candidate],
        external: list[Candidate],
        generic: set[str],
        counts: CorpusCounts,
    ) -> list[Entity]:
        def compatible(a: str, b: str) -> bool:
            return a == b or {a, b} == {"dataset", "benchmark"}

        entities: list[Entity] = []
        curated_by_key: dict[str, list[Entity]] = defaultdict(list)
        for c in curated:
            surfaces = []
            for s in [c.name, *c.aliases]:
                problem = self.surface_problem(s, c.type, True, generic, None)
                if problem:
                    self.log.drop(problem, s)
                    print(f"WARNING: curated surface {s!r} dropped: {problem}", file=self.out)
                    continue
                if s not in surfaces:
                    surfaces.append(s)
            e = Entity(c.type, c.name, surfaces, {"curated"}, True)
            entities.append(e)
            for s in surfaces:
                curated_by_key[match_key(s)].append(e)

        def curated_target(c: Candidate) -> Entity | None:
            """Rule C: the curated entity a candidate belongs to, by name, then by alias."""
            for i, surface in enumerate([c.name, *c.aliases]):
                hits = curated_by_key.get(match_key(surface), [])
                if i > 0:  # an alias only links to a curated entity of a compatible type
                    hits = [e for e in hits if compatible(e.type, c.type)]
                if hits:
                    exact_hits = [e for e in hits if surface in e.surfaces] or hits
                    return min(exact_hits, key=lambda e: (TYPE_ORDER[e.type], e.name))
            return None

        named: list[Candidate] = []
        for c in external:
            target = curated_target(c)
            if target is not None and not compatible(target.type, c.type):
                self.log.drop("C type conflict: curated type wins", f"{c.name} ({c.type})")
                continue
            surfaces = []
            for s in [c.name, *c.aliases]:
                if target is not None and match_key(s) in curated_by_key:
                    continue  # already a curated surface (of this or another entity)
                problem = self.surface_problem(s, c.type, False, generic, counts)
                if problem:
                    self.log.drop(problem, s)
                else:
                    surfaces.append(s)
            if target is not None:
                target.sources.add(c.source)
                target.surfaces.extend(s for s in surfaces if s not in target.surfaces)
                self.log.drop("C (info, not a drop) joined a curated entity", c.name)
                continue
            if c.name not in surfaces:
                continue
            c.aliases = [s for s in surfaces if s != c.name]
            named.append(c)

        # rule X: group by the name's match key; then link groups through aliases
        groups: dict[str, list[Candidate]] = defaultdict(list)
        for c in named:
            groups[match_key(c.name)].append(c)
        parent = {k: k for k in groups}

        def find(k: str) -> str:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        for key in sorted(groups):
            for c in groups[key]:
                for a in c.aliases:
                    other = match_key(a)
                    if (
                        other in groups
                        and other != key
                        and all(compatible(c.type, o.type) for o in groups[other])
                    ):
                        ra, rb = find(key), find(other)
                        if ra != rb:
                            parent[max(ra, rb)] = min(ra, rb)
        merged: dict[str, list[Candidate]] = defaultdict(list)
        for key in sorted(groups):
            merged[find(key)].extend(groups[key])

        for key in sorted(merged):
            group = merged[key]
            typ = self.group_type(group)
            if typ is None:
                self.log.drop(
                    "X ambiguous type in PwC (dropped)",
                    "/".join(sorted({c.type for c in group})) + f" {group[0].name}",
                )
                continue
            members = [c for c in group if compatible(c.type, typ)]
            for c in group:
                if c not in members:
                    self.log.drop("X type conflict resolved by rule X", f"{c.name} ({c.type})")
            forms: Counter[str] = Counter()
            sources: set[str] = set()
            for c in members:
                forms[c.name] += 1
                sources.add(c.source)
            name = sorted(forms, key=lambda f: (-counts.get(self.tokens(f)), -forms[f], f))[0]
            surfaces = [name]
            for c in sorted(members, key=lambda c: (c.name, c.source)):
                for s in [c.name, *c.aliases]:
                    if s not in surfaces:
                        surfaces.append(s)
            entities.append(Entity(typ, name, surfaces, sources, False))
        return entities

    def group_type(self, group: list[Candidate]) -> str | None:
        types = {c.type for c in group}
        if len(types) == 1:
            return next(iter(types))
        if "metric" in types:
            return "metric"
        if types == {"dataset", "benchmark"}:
            return "benchmark"
        if types <= {"task", "dataset", "benchmark"}:
            names = [c.name for c in group if c.type != "task"]
            shaped = any(
                any(ch.isdigit() for ch in n)
                or any(w.isupper() and len(w) > 1 for w in n.split())
                or any(any(ch.isupper() for ch in w[1:]) for w in n.split())
                for n in names
            )
            if shaped:
                return "benchmark" if "benchmark" in types else "dataset"
            return "task"
        return None

    # -- patterns (rules L, V, P) -----------------------------------------------------------

    def lower_variants(self, surface: str, typ: str, generic: set[str]) -> list[str]:
        s = surface.lower()
        out = {s}
        # British / American spellings
        for a, b in (
            ("isation", "ization"),
            ("modelling", "modeling"),
            ("labelling", "labeling"),
            ("isations", "izations"),
        ):
            for v in list(out):
                if a in v:
                    out.add(v.replace(a, b))
                if b in v:
                    out.add(v.replace(b, a))
        # hyphen / space / joined
        for v in list(out):
            out.update(self.hyphen_variants(v))
        # plural / singular of the last word
        if typ in ("method", "metric"):
            for v in list(out):
                words = v.split(" ")
                if len(words) < 2:
                    continue
                last = words[-1]
                head, sep, tail = last.rpartition("-")
                for form in (pluralize(tail), singularize(tail)):
                    if form:
                        out.add(" ".join([*words[:-1], head + sep + form]))
        return sorted(v for v in out if generic_norm(v) not in generic)

    @staticmethod
    def hyphen_variants(s: str) -> set[str]:
        # hyphens between letters: all kept, all spaces, and either way with the hyphen
        # after a joinable prefix removed; joinable prefixes written solid get a hyphen
        out = {s}
        pieces = re.split(r"(?<=[a-z])-(?=[a-z])", s)
        if len(pieces) > 1:
            for sep in ("-", " "):
                for join in (False, True):
                    v = pieces[0]
                    for piece in pieces[1:]:
                        prefix = v.split(" ")[-1].split("-")[-1]
                        v += ("" if join and prefix in PREFIXES_JOINABLE else sep) + piece
                    out.add(v)
        words = s.split(" ")
        for i, w in enumerate(words):
            for p in PREFIXES_JOINABLE:
                if (
                    w.startswith(p)
                    and len(w) > len(p) + 3
                    and w[len(p)].isalpha()
                    and (
                        w[len(p) :].endswith(
                            (
                                "trained",
                                "training",
                                "train",
                                "tuning",
                                "tuned",
                                "modal",
                                "supervised",
                                "autoregressive",
                                "ranking",
                                "occurrence",
                                "attention",
                                "processing",
                            )
                        )
                    )
                ):
                    out.add(" ".join([*words[:i], p + "-" + w[len(p) :], *words[i + 1 :]]))
        return out

    @staticmethod
    def exact_variants(surface: str) -> list[str]:
        out = {surface}
        joined = re.sub(r"(?<=[A-Za-z])-(?=\d)", "", surface)
        out.add(joined)
        return sorted(out)

    def make_patterns(self, entities: list[Entity], generic: set[str]) -> list[Pattern]:
        # provisional ids for conflict resolution
        self.assign_ids(entities)
        exact: dict[tuple[str, ...], list[tuple[Entity, str]]] = defaultdict(list)
        lower: dict[tuple[str, ...], list[tuple[Entity, str]]] = defaultdict(list)
        lower_text: dict[tuple[str, ...], str] = {}  # a written form of each LOWER key
        for e in entities:
            for s in e.surfaces:
                if self.is_lower_surface(s, e.type, e.curated):
                    for v in self.lower_variants(s, e.type, generic):
                        key = tuple(t.lower() for t in self.tokens(v))
                        lower[key].append((e, s))
                        if key not in lower_text or v < lower_text[key]:
                            lower_text[key] = v
                else:
                    for v in self.exact_variants(s):
                        if generic_norm(v) in generic:
                            continue
                        exact[self.tokens(v)].append((e, s))

        def rank(item: tuple[Entity, str]) -> tuple[int, int, int, str]:
            e, s = item
            return (0 if e.curated else 1, 0 if s == e.name else 1, TYPE_ORDER[e.type], e.id)

        def winner(claims: list[tuple[Entity, str]], key: str) -> tuple[Entity, str]:
            best = min(claims, key=rank)
            losers = sorted({e.id for e, _ in claims} - {best[0].id})
            if losers:
                self.log.drop(
                    "P pattern claimed by two entities (loser's pattern)",
                    f"{key}: {best[0].id} over {', '.join(losers)}",
                )
            return best

        lower_owner = {key: winner(lower[key], " ".join(key)) for key in sorted(lower)}
        exact_owner: dict[tuple[str, ...], tuple[Entity, str]] = {}
        for key in sorted(exact):
            best = winner(exact[key], " ".join(key))
            lkey = tuple(t.lower() for t in key)
            other = lower_owner.get(lkey)
            if other is not None:
                if other[0].id == best[0].id:
                    continue  # redundant: the LOWER pattern of the same entity matches it
                if rank(other) < rank(best):
                    self.log.drop(
                        "P pattern claimed by two entities (loser's pattern)",
                        f"{' '.join(key)}: {other[0].id} over {best[0].id}",
                    )
                    continue
                self.log.drop(
                    "P pattern claimed by two entities (loser's pattern)",
                    f"{' '.join(lkey)}: {best[0].id} over {other[0].id}",
                )
                del lower_owner[lkey]
            exact_owner[key] = best
        patterns: list[Pattern] = []
        self.used_surfaces = set()
        for key, (e, s) in lower_owner.items():
            patterns.append(Pattern(e.type, lower_text[key], e.id, True))
            self.used_surfaces.add((e.id, s))
        for key, (e, s) in exact_owner.items():
            patterns.append(Pattern(e.type, self.written_form(key, s), e.id, False))
            self.used_surfaces.add((e.id, s))
        return patterns

    def written_form(self, key: tuple[str, ...], surface: str) -> str:
        """The variant of ``surface`` that tokenizes to ``key``, as written."""
        for v in self.exact_variants(surface):
            if self.tokens(v) == key:
                return v
        return " ".join(key)

    def assign_ids(self, entities: list[Entity]) -> None:
        by_id: dict[str, list[Entity]] = defaultdict(list)
        for e in entities:
            by_id[f"{e.type}/{slugify(e.name)}"].append(e)
        for base, group in by_id.items():
            group.sort(key=lambda e: (0 if e.curated else 1, e.name))
            for i, e in enumerate(group):
                e.id = base if i == 0 else f"{base}-{i + 1}"

    def finish(
        self, entities: list[Entity], patterns: list[Pattern]
    ) -> tuple[list[Entity], list[Pattern]]:
        used = {p.id for p in patterns}
        kept = []
        for e in entities:
            if e.id not in used:
                self.log.drop("P entity left without patterns", e.name)
                continue
            e.aliases = sorted(
                {s for s in e.surfaces if s != e.name and (e.id, s) in self.used_surfaces}
            )
            kept.append(e)
        kept.sort(key=lambda e: e.id)
        patterns.sort(key=lambda p: (p.id, p.lower, p.pattern))
        return kept, patterns


# ---------------------------------------------------------------------------------------------
# writing


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=False)


def write_outputs(out_dir: Path, entities: list[Entity], patterns: list[Pattern]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / ENTITIES_FILE).open("w", encoding="utf-8", newline="\n") as f:
        for e in entities:
            f.write(
                dumps(
                    {
                        "id": e.id,
                        "type": e.type,
                        "name": e.name,
                        "aliases": e.aliases,
                        "sources": sorted(e.sources, key=lambda s: SOURCE_ORDER.get(s, 9)),
                    }
                )
                + "\n"
            )
    for fname, want_lower in ((EXACT_FILE, False), (LOWER_FILE, True)):
        rows = sorted(
            (p for p in patterns if p.lower == want_lower), key=lambda p: (p.label, p.id, p.pattern)
        )
        with (out_dir / fname).open("w", encoding="utf-8", newline="\n") as f:
            for p in rows:
                f.write(dumps({"label": p.label, "pattern": p.pattern, "id": p.id}) + "\n")


def summary(entities: list[Entity], patterns: list[Pattern], out: Any) -> None:
    ent = Counter(e.type for e in entities)
    src = Counter(s for e in entities for s in e.sources)
    pex = Counter(p.label for p in patterns if not p.lower)
    plo = Counter(p.label for p in patterns if p.lower)
    print(f"{'type':<10} {'entities':>9} {'exact':>7} {'lower':>7}", file=out)
    for t in TYPES:
        print(f"{t:<10} {ent[t]:>9} {pex[t]:>7} {plo[t]:>7}", file=out)
    print(
        f"{'total':<10} {sum(ent.values()):>9} {sum(pex.values()):>7} {sum(plo.values()):>7}",
        file=out,
    )
    print("entities by source: " + ", ".join(f"{k} {v}" for k, v in sorted(src.items())), file=out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "--shared",
        type=Path,
        default=Path("../shared"),
        help="the shared/ folder (data/gazetteer and corpus)",
    )
    ap.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("kgraph/data"),
        help="output folder (default kgraph/data)",
    )
    ap.add_argument(
        "--curated", type=Path, default=None, help="curated lists folder (default: <out>/curated)"
    )
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    args = ap.parse_args(argv)
    curated = args.curated or (args.out / "curated")
    out: Any = io.StringIO() if args.quiet else sys.stdout
    b = Builder(curated, args.shared, out)
    entities, patterns = b.build()
    write_outputs(args.out, entities, patterns)
    print("rule counts (PwC + NLP-TDMS rows and surfaces):", file=out)
    b.log.report(out)
    summary(entities, patterns, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
