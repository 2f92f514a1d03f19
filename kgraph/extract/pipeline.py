"""The extraction pipeline: ``spacy.blank("en")`` plus kgraph's own components.

    sentencizer -> kgraph_sections -> kgraph_urls -> kgraph_abbreviations
      -> gazetteer_exact, gazetteer_lower (span_ruler) -> kgraph_patterns
      -> kgraph_model (the trained span tagger, unless model=False) -> kgraph_entities

Everything it reads ships inside the package (``kgraph/data``); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import cast

import spacy
from spacy.language import Language
from spacy.pipeline import SpanRuler
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc
from spacy.util import compile_infix_regex, compile_suffix_regex

from ..records import Entity, Paper
from . import abbreviations as _abbreviations  # noqa: F401 - registers the factory
from . import assemble as _assemble  # noqa: F401 - registers the factory
from . import patterns as _patterns  # noqa: F401 - registers the factory
from . import urls as _urls  # noqa: F401 - registers the factory
from .lexicon import DATA, read_jsonl

GAZETTEER_KEY = "gazetteer"


@Language.component("kgraph_sections")
def sections(doc: Doc) -> Doc:
    """The title is a sentence of its own: the token after the blank line starts a sentence."""
    for tok in doc[:-1]:
        if (tok.is_space and "\n\n" in tok.text) or "\n\n" in tok.whitespace_:
            doc[tok.i + 1].is_sent_start = True
            break
    return doc


#: a final "." after a capital or digit ends a sentence ("... with Zeta-7B."), unless the token
#: is an abbreviation with inner dots ("U.S.")
EXTRA_SUFFIXES = [r"(?<=[0-9A-Z])(?<!\.[A-Z])\."]
#: "(CNN)-based" splits into "(", "CNN", ")", "-based", so the abbreviation is seen
EXTRA_INFIXES = [r"(?<=[A-Za-z0-9])\)(?=[-A-Za-z])"]


def make_nlp() -> Language:
    """``spacy.blank("en")`` with kgraph's one tokenizer tweak (:data:`EXTRA_SUFFIXES`)."""
    nlp = spacy.blank("en")
    tokenizer = cast(Tokenizer, nlp.tokenizer)
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
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("kgraph_sections")
    nlp.add_pipe("kgraph_urls")
    nlp.add_pipe("kgraph_abbreviations")
    if gazetteer:
        for case, attr in (("exact", "ORTH"), ("lower", "LOWER")):
            path = DATA / f"gazetteer_{case}.jsonl"
            if not path.exists():
                continue
            ruler = nlp.add_pipe(
                "span_ruler",
                name=f"gazetteer_{case}",
                config={
                    "spans_key": GAZETTEER_KEY,
                    "phrase_matcher_attr": attr,
                    "overwrite": False,
                    "validate": False,
                },
            )
            cast(SpanRuler, ruler).add_patterns(read_jsonl(path))
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
