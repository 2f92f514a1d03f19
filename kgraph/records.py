"""Core records shared by every stage: read -> extract -> resolve -> graph -> export.

All records are frozen dataclasses; collections are tuples so records hash and compare by value.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal

# --- relation and type names (the contract in spec/entities.md) ---------------------------------

ENTITY_TYPES: Final = ("method", "dataset", "benchmark", "metric", "task", "repository")
EntityType = Literal["method", "dataset", "benchmark", "metric", "task", "repository"]

PROPOSES: Final = "proposes"  #: the paper's own new method / model / system
INTRODUCES: Final = "introduces"  #: the paper's own new dataset or benchmark
USES: Final = "uses"  #: anything else the paper names
CODE: Final = "code"  #: a code / data / project URL of the paper
RELATIONS: Final = (PROPOSES, INTRODUCES, USES, CODE)
Relation = Literal["proposes", "introduces", "uses", "code"]

_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.\-]+/\d{7})(v\d+)?$", re.I)
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|arxiv:\s*|huggingface\.co/papers/)"
    r"(\d{4}\.\d{4,5}|[a-z][a-z.\-]+/\d{7})(?:v\d+)?",
    re.I,
)
_LATEX_CMD = re.compile(r"\\[a-zA-Z]+")


def normalize_arxiv_id(value: str | None) -> str | None:
    """Return the bare, versionless arXiv id in ``value`` ("arXiv:2310.01234v2" -> "2310.01234")."""
    if not value:
        return None
    text = value.strip()
    m = _ARXIV_IN_TEXT.search(text)
    if m:
        return m.group(1)
    text = re.sub(r"^arxiv:\s*", "", text, flags=re.I)
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        m = pattern.match(text)
        if m:
            return m.group(1)
    return None


def title_key(title: str) -> str:
    """Normalised title used for ids and de-duplication: NFKC, LaTeX commands out, alnum only.
    A title with no letter or digit (emoji, symbols, LaTeX alone) keys on all its characters
    but white space, case folded: such titles would otherwise all share the empty key, and
    distinct papers would merge as one."""
    if title.isascii():
        # (NFKC leaves ASCII as it is, and the ASCII characters [\W_] matches are those
        # str.isalnum rejects: the same key, the corpus' 160k titles in 0.21 s, not 0.44)
        low = (_LATEX_CMD.sub("", title) if "\\" in title else title).lower()
        return low.translate(_ASCII_DROP) or "".join(title.casefold().split())
    normal = unicodedata.normalize("NFKC", title)
    key = re.sub(r"[\W_]+", "", _LATEX_CMD.sub("", normal).lower())
    return key or "".join(normal.casefold().split())


#: what :func:`title_key` drops of an ASCII title: all but letters and digits
_ASCII_DROP: Final = dict.fromkeys(c for c in range(128) if not chr(c).isalnum())


#: a run of letters and digits (str.isalnum: ``\w`` without the underscore)
_ALNUM_RUN: Final = re.compile(r"[^\W_]+")


def slugify(text: str) -> str:
    """Lowercase, runs of non-alphanumeric characters -> '-', trimmed: the slug of entity ids
    (``dataset/imagenet``), shared by the gazetteer builder and the resolver so they agree."""
    return "-".join(_ALNUM_RUN.findall(unicodedata.normalize("NFKC", text).lower())) or "x"


def paper_id(title: str, arxiv_id: str | None = None) -> str:
    """Stable paper id: the arXiv id where known, else ``t-`` + a short hash of the title key."""
    if arxiv_id:
        return arxiv_id
    digest = hashlib.sha1(title_key(title).encode("utf-8")).hexdigest()
    return "t-" + digest[:12]


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as read from a listing. ``sources`` holds every ``file:line`` it came from."""

    id: str
    title: str
    abstract: str
    published: str | None = None  #: ISO date "2023-12-17", or "--02-05" (xsd:gMonthDay) if no year
    authors: tuple[str, ...] = ()
    authors_count: int | None = None
    organization: str | None = None
    upvotes: int | None = None
    arxiv_id: str | None = None
    urls: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        title: str,
        abstract: str,
        *,
        arxiv_id: str | None = None,
        authors: tuple[str, ...] | list[str] = (),
        authors_count: int | None = None,
        **kw: Any,
    ) -> Paper:
        """Build a paper, deriving its id and, when names are known, its author count."""
        aid = normalize_arxiv_id(arxiv_id)
        names = tuple(authors)
        if authors_count is None and names:
            authors_count = len(names)
        return cls(
            id=paper_id(title, aid),
            title=title,
            abstract=abstract,
            arxiv_id=aid,
            authors=names,
            authors_count=authors_count,
            **kw,
        )

    @property
    def text(self) -> str:
        """The text entities are extracted from; mention offsets index into it."""
        return f"{self.title}\n\n{self.abstract}" if self.abstract else self.title

    @property
    def title_key(self) -> str:
        return title_key(self.title)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("authors", "urls", "sources"):
            d[k] = list(d[k])
        return d

    def with_changes(self, **kw: Any) -> Paper:
        return replace(self, **kw)


@dataclass(frozen=True, slots=True)
class Mention:
    """One place an entity is named: offsets into ``Paper.text`` (end exclusive)."""

    start: int
    end: int
    text: str
    source: str  #: the component that found it, e.g. "gazetteer", "abbreviations", "patterns"
    sentence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "source": self.source}


@dataclass(frozen=True, slots=True)
class Entity:
    """A named thing in one paper, with its relation to that paper and its evidence."""

    name: str
    type: str
    relation: str
    confidence: float
    aliases: tuple[str, ...] = ()
    mentions: tuple[Mention, ...] = field(default=())
    id: str | None = None  #: the knowledge-base id when a gazetteer knew it

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "relation": self.relation,
            "aliases": list(self.aliases),
            "confidence": round(self.confidence, 3),
            "mentions": [m.to_dict() for m in self.mentions],
        }
