"""The extraction pipeline: ``spacy.blank("en")`` plus kgraph's own components.

    sentencizer -> kgraph_sections -> kgraph_urls -> kgraph_abbreviations
      -> gazetteer_exact, gazetteer_lower -> kgraph_patterns
      -> kgraph_model (the trained span tagger, unless model=False) -> kgraph_entities

Everything it reads ships inside the package (``kgraph/data``); nothing is downloaded.

Speed (``benchmarks/bench_extract.py``): the tokenizer keeps each doc's text and the kgraph
components share one per-doc view of the tokens (``kgraph.extract.view``) instead of reading
spaCy objects token by token; ``sentencizer`` is ``kgraph_sentencizer`` (spaCy's rule, same
boundaries) and the gazetteers are ``kgraph_gazetteer`` (a ``span_ruler`` with a faster match
step, same spans).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import cast

import spacy
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_suffix_regex

from ..records import Entity, Paper
from . import abbreviations as _abbreviations  # noqa: F401 - registers the factory
from . import assemble as _assemble  # noqa: F401 - registers the factory
from . import gazetteer as _gazetteer  # noqa: F401 - registers the factory
from . import patterns as _patterns  # noqa: F401 - registers the factory
from . import sentences as _sentences  # noqa: F401 - registers the factories
from . import urls as _urls  # noqa: F401 - registers the factory
from .gazetteer import GazetteerRuler
from .lexicon import DATA, read_jsonl
from .view import KgraphTokenizer

GAZETTEER_KEY = "gazetteer"


#: a final "." after a capital or digit ends a sentence ("... with Zeta-7B."), unless the token
#: is an abbreviation with inner dots ("U.S.")
EXTRA_SUFFIXES = [r"(?<=[0-9A-Z])(?<!\.[A-Z])\."]
#: "(CNN)-based" splits into "(", "CNN", ")", "-based", so the abbreviation is seen
EXTRA_INFIXES = [r"(?<=[A-Za-z0-9])\)(?=[-A-Za-z])"]


def make_nlp() -> Language:
    """``spacy.blank("en")`` with kgraph's tokenizer tweaks (:data:`EXTRA_SUFFIXES`,
    :data:`EXTRA_INFIXES`); the tokenizer keeps each doc's text for the components
    (:class:`~kgraph.extract.view.KgraphTokenizer`)."""
    nlp = spacy.blank("en")
    tokenizer = KgraphTokenizer.like(cast(Tokenizer, nlp.tokenizer))
    nlp.tokenizer = tokenizer
    suffixes = [*cast(list[str], nlp.Defaults.suffixes), *EXTRA_SUFFIXES]
    tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    infixes = [*cast(list[str], nlp.Defaults.infixes), *EXTRA_INFIXES]
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    return nlp


def build_pipeline(*, gazetteer: bool = True, model: bool = True) -> Language:
    """A fresh extraction pipeline (load it once and reuse it: building takes a second).

    ``model``: add the trained span tagger (``kgraph_model``, when its files are installed);
    ``False`` keeps the faster rules-only pipeline.
    """
    nlp = make_nlp()
    # spaCy's sentencizer rule, reading kgraph's shared token view (same boundaries, faster)
    nlp.add_pipe("kgraph_sentencizer", name="sentencizer")
    nlp.add_pipe("kgraph_sections")
    nlp.add_pipe("kgraph_urls")
    nlp.add_pipe("kgraph_abbreviations")
    if gazetteer:
        for case, attr in (("exact", "ORTH"), ("lower", "LOWER")):
            path = DATA / f"gazetteer_{case}.jsonl"
            if not path.exists():
                continue
            ruler = nlp.add_pipe(
                "kgraph_gazetteer",  # a span_ruler that matches faster (same spans)
                name=f"gazetteer_{case}",
                config={
                    "spans_key": GAZETTEER_KEY,
                    "phrase_matcher_attr": attr,
                    "overwrite": False,
                    "validate": False,
                },
            )
            cast(GazetteerRuler, ruler).add_patterns(read_jsonl(path))
    # matching ~15k pattern strings filled the tokenizer's cache with them; resetting the
    # rules clears it (measured: 3x faster tokenizing afterwards)
    tokenizer = cast(Tokenizer, nlp.tokenizer)
    tokenizer.rules = tokenizer.rules
    nlp.add_pipe("kgraph_patterns")
    if model:
        from ..model import model_available

        if model_available():
            from ..model import component as _model  # noqa: F401 - registers the factory

            nlp.add_pipe("kgraph_model")
    nlp.add_pipe("kgraph_entities")
    return nlp


@lru_cache(maxsize=4)
def default_pipeline(gazetteer: bool = True, model: bool = True) -> Language:
    return build_pipeline(gazetteer=gazetteer, model=model)


def extract_text(text: str, nlp: Language | None = None) -> list[Entity]:
    """Entities in one text (title, blank line, abstract)."""
    doc = (nlp or default_pipeline())(text)
    return list(doc._.kg_entities or [])


def extract_papers(
    papers: Iterable[Paper], nlp: Language | None = None, batch_size: int = 64
) -> Iterator[tuple[Paper, list[Entity]]]:
    """Each paper with its entities, in input order, streaming."""
    nlp = nlp or default_pipeline()
    pairs = ((p.text, p) for p in papers)
    for doc, paper in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
        yield paper, list(doc._.kg_entities or [])
