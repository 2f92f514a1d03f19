"""Repository URLs: canonical forms, finding them in text, and the ``kgraph_urls`` component."""

from __future__ import annotations

import pytest
import spacy
from hypothesis import given
from hypothesis import strategies as st
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from kgraph.extract.urls import GITHUB_RESERVED, LABEL, canonical_url, find_urls, is_example_url

# --- canonical_url -----------------------------------------------------------------------------

CANONICAL = [
    # as written on the sample pages (graphs/pages/*.txt)
    ("https://github.com/Amano-Aki/Mixture-of-Domain-Adapters.",
     "https://github.com/Amano-Aki/Mixture-of-Domain-Adapters"),
    ("https://github.com/allenai/open-instruct)", "https://github.com/allenai/open-instruct"),
    ("https://github.com/hamishivi/EasyLM)", "https://github.com/hamishivi/EasyLM"),
    ("https://github.com/YookiTong/Learn-from-Mistakes-CotErrorSet}.",
     "https://github.com/YookiTong/Learn-from-Mistakes-CotErrorSet"),
    ("https://github.com/abhishek9909/assessing-domain-emergent-misalignment/tree/main",
     "https://github.com/abhishek9909/assessing-domain-emergent-misalignment"),
    ("https://github.com/daintlab/fewshot-SFDA", "https://github.com/daintlab/fewshot-SFDA"),
    ("https://github.com/CycloneBoy/pdf_table.", "https://github.com/CycloneBoy/pdf_table"),
    ("https://github.com/nthehai01/RegMean-plusplus.",
     "https://github.com/nthehai01/RegMean-plusplus"),
    ("https://github.com/remiMZ/MetaCoCo-ICLR24.", "https://github.com/remiMZ/MetaCoCo-ICLR24"),
    ("https://github.com/OFA-Sys/gsm8k-ScRel.", "https://github.com/OFA-Sys/gsm8k-ScRel"),
    ("https://aka.ms/orca-lm),", "https://aka.ms/orca-lm"),
    ("https://anonymous.4open.science/r/mocoop-6387",
     "https://anonymous.4open.science/r/mocoop-6387"),
    ("https://baai-agents.github.io/Cradle/.", "https://baai-agents.github.io/Cradle"),
    ("https://domaineval.github.io/.", "https://domaineval.github.io"),
    ("https://memkklogic.github.io.", "https://memkklogic.github.io"),
    ("https://ninglab.github.io/eCeLLM.", "https://ninglab.github.io/eCeLLM"),
    ("https://hongwenzhang.github.io/dense2mesh", "https://hongwenzhang.github.io/dense2mesh"),
    ('http://mmlab.ie.cuhk.edu.hk/projects/CMP/".', "http://mmlab.ie.cuhk.edu.hk/projects/CMP"),
    ("https://huggingface.co/LEIA", "https://huggingface.co/LEIA"),
    ("https://huggingface.co/collections/allenai/tulu-v25-suite-66676520fd578080e126f618).",
     "https://huggingface.co/collections/allenai/tulu-v25-suite-66676520fd578080e126f618"),
    ("https://hf-proxy-en5.pages.dev/datasets/datalyes/DAPFAM_patent.",
     "https://hf-proxy-en5.pages.dev/datasets/datalyes/DAPFAM_patent"),
    ("https://www.youtube.com/watch?v=BZx83QFcTCI.",
     "https://www.youtube.com/watch?v=BZx83QFcTCI"),
    ("https://youtu.be/XsaGI01b-1o", "https://youtu.be/XsaGI01b-1o"),
    ("https://vis-www.cs.umass.edu/ubsoft/.", "https://vis-www.cs.umass.edu/ubsoft"),
    # code hosts
    ("https://github.com/openai", "https://github.com/openai"),
    ("https://github.com/openai.", "https://github.com/openai"),
    ("http://www.GitHub.com/Owner/Repo.git", "https://github.com/Owner/Repo"),
    ("HTTPS://github.com/o/r", "https://github.com/o/r"),
    ("https://github.com/o/r.git/", "https://github.com/o/r"),
    ("https://github.com/o/r/blob/main/README.md#usage", "https://github.com/o/r"),
    ("https://github.com/o/r?tab=readme-ov-file", "https://github.com/o/r"),
    ("https://github.com/o/r#readme", "https://github.com/o/r"),
    ("https://gitlab.com/group/sub/project/-/tree/main", "https://gitlab.com/group/sub/project"),
    ("https://gitlab.com/o/r/tree/master", "https://gitlab.com/o/r"),
    ("https://bitbucket.org/o/r/src/master/", "https://bitbucket.org/o/r"),
    ("https://gitee.com/o/r.git", "https://gitee.com/o/r"),
    # no scheme
    ("github.com/Xu3XiWang/CAD-GD.", "https://github.com/Xu3XiWang/CAD-GD"),
    ("www.github.com/ka-mirul/R-Sparse-R-CNN.", "https://github.com/ka-mirul/R-Sparse-R-CNN"),
    ("huggingface.co/datasets/o/d", "https://huggingface.co/datasets/o/d"),
    ("opencity3d.github.io", "https://opencity3d.github.io"),
    ("www.kaggle.com/datasets/x/y.", "www.kaggle.com/datasets/x/y"),  # no scheme invented
    # brackets: a stray closer goes, a balanced pair stays
    ("https://en.wikipedia.org/wiki/Heat_(film)", "https://en.wikipedia.org/wiki/Heat_(film)"),
    ("https://en.wikipedia.org/wiki/Heat_(film)).", "https://en.wikipedia.org/wiki/Heat_(film)"),
    ("(https://doi.org/10.5281/zenodo.1234567).", "https://doi.org/10.5281/zenodo.1234567"),
    ("\\url{https://github.com/a/b}", "https://github.com/a/b"),
    # http stays http off code hosts
    ("http://www.cs.toronto.edu/~kriz/cifar.html", "http://www.cs.toronto.edu/~kriz/cifar.html"),
    ("https://drive.google.com/drive/folders/abc?usp=sharing",
     "https://drive.google.com/drive/folders/abc?usp=sharing"),
    # LaTeX noise and wrapped URLs from arXiv abstracts
    ("https://huggingface.co/ Jgmorenof/mistral\\_merged\\_0\\_4.",
     "https://huggingface.co/Jgmorenof/mistral_merged_0_4"),
    ("https://github. com/ljpadam/CGPS", "https://github.com/ljpadam/CGPS"),
    ("https://github$.$com/VanLinLin/DenseSR", "https://github.com/VanLinLin/DenseSR"),
    ("https://\nanonymous.4open.science/r/Bone-Loss",
     "https://anonymous.4open.science/r/Bone-Loss"),
    ("http://http://geometrylearning.com/Sketch3DVE/", "http://geometrylearning.com/Sketch3DVE"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), CANONICAL)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "not a url", "foo@bar.com", "mailto:a@b.com", "https://", "https://github", "www.",
     "https://user@github.com/o/r", "example", "https://a b.com/x"],
)  # fmt: skip
def test_canonical_url_rejects_non_urls(raw: str) -> None:
    assert canonical_url(raw) is None


def test_canonical_url_is_idempotent_on_the_table() -> None:
    for _, expected in CANONICAL:
        assert canonical_url(expected) == expected


# github-legal names: owners are alphanumerics and single inner hyphens (not one of GitHub's
# reserved paths); repositories use
# [A-Za-z0-9._-] and do not end with "." or ".git" (which would be ambiguous with the suffixes).
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
owners = (
    st.lists(st.text(_ALNUM, min_size=1, max_size=8), min_size=1, max_size=3)
    .map("-".join)
    .filter(lambda o: o.lower() not in GITHUB_RESERVED)  # github.com/search/... is no repo
)
repos = st.text(_ALNUM + "._-", min_size=1, max_size=30).filter(
    lambda r: r[0] in _ALNUM + "_-" and not r.endswith(".") and not r.lower().endswith(".git")
)
SUFFIXES = ["", ".", ",", ";", ":", "/", ".git", ".git/", ".git.", "/tree/main", "/tree/main/src",
            "/blob/main/README.md", ").", ")", "),", "}.", "]", "/.", "#readme", "?tab=readme",
            "/issues/1", '".', "'"]  # fmt: skip


@given(owner=owners, repo=repos, suffix=st.sampled_from(SUFFIXES), www=st.booleans())
def test_github_urls_canonicalise_to_owner_repo(
    owner: str, repo: str, suffix: str, www: bool
) -> None:
    host = "www.github.com" if www else "github.com"
    assert canonical_url(f"https://{host}/{owner}/{repo}{suffix}") == (
        f"https://github.com/{owner}/{repo}"
    )
    assert canonical_url(f"{host}/{owner}/{repo}{suffix}") == f"https://github.com/{owner}/{repo}"


# --- find_urls -----------------------------------------------------------------------------------


def _found(text: str, **kw: bool) -> list[tuple[str, str]]:
    return [(u.text, u.canonical) for u in find_urls(text, **kw)]


def test_find_urls_offsets_exclude_trailing_punctuation() -> None:
    text = (
        "We publicly release the code used for training (https://github.com/hamishivi/EasyLM) "
        "and evaluating (https://github.com/allenai/open-instruct), along with the models "
        "(https://huggingface.co/collections/allenai/tulu-v25-suite-66676520fd578080e126f618)."
    )
    found = find_urls(text)
    assert [u.canonical for u in found] == [
        "https://github.com/hamishivi/EasyLM",
        "https://github.com/allenai/open-instruct",
        "https://huggingface.co/collections/allenai/tulu-v25-suite-66676520fd578080e126f618",
    ]
    for u in found:
        assert text[u.start : u.end] == u.text == u.canonical


def test_find_urls_latex_and_glued_urls() -> None:
    assert _found(
        "published soon on \\url{https://github.com/YookiTong/Learn-from-Mistakes-CotErrorSet}."
    ) == [
        ("https://github.com/YookiTong/Learn-from-Mistakes-CotErrorSet",
         "https://github.com/YookiTong/Learn-from-Mistakes-CotErrorSet"),
    ]  # fmt: skip
    text = "available on GitHub.https://github.com/abhishek9909/assessing-domain/tree/main"
    assert _found(text) == [
        ("https://github.com/abhishek9909/assessing-domain/tree/main",
         "https://github.com/abhishek9909/assessing-domain"),
    ]  # fmt: skip
    assert _found("at https://githubhttps://github.com/Yuhan/UltraFast.") == [
        ("https://github.com/Yuhan/UltraFast", "https://github.com/Yuhan/UltraFast")
    ]
    assert _found("[https://github.com/a/b](https://github.com/a/b).") == [
        ("https://github.com/a/b", "https://github.com/a/b"),
        ("https://github.com/a/b", "https://github.com/a/b"),
    ]


def test_find_urls_bare_hosts_but_not_emails() -> None:
    text = "Code: github.com/hf618/COSMIC. Page: opencity3d.github.io. Mail me@github.com/x."
    assert _found(text) == [
        ("github.com/hf618/COSMIC", "https://github.com/hf618/COSMIC"),
        ("opencity3d.github.io", "https://opencity3d.github.io"),
    ]
    assert _found("Contact: first.last@uni.edu or www.") == []


def test_find_urls_rejoins_broken_urls() -> None:
    assert _found("Code: https://github.com/ elakhatibi/CDF-RAG.") == [
        ("https://github.com/ elakhatibi/CDF-RAG", "https://github.com/elakhatibi/CDF-RAG")
    ]
    assert _found("Code: https://github. com/ljpadam/CGPS. Next") == [
        ("https://github. com/ljpadam/CGPS", "https://github.com/ljpadam/CGPS")
    ]
    assert _found("code at\nhttps://github.com/lixinustc/KVQE-\nChallenge2025.") == [
        ("https://github.com/lixinustc/KVQE-\nChallenge2025",
         "https://github.com/lixinustc/KVQE-Challenge2025"),
    ]  # fmt: skip
    assert _found("see https://github.com/bbvisual/ MoBind.") == [
        ("https://github.com/bbvisual/ MoBind", "https://github.com/bbvisual/MoBind")
    ]
    # an ordinary word after "owner/" is not a repository name
    assert _found("at https://github.com/Medical-Lab/ and more") == [
        ("https://github.com/Medical-Lab", "https://github.com/Medical-Lab")
    ]
    # nor is the next sentence after a URL that ends with a full stop
    assert _found("at https://foo.com. The code is here.") == [
        ("https://foo.com", "https://foo.com")
    ]


def test_find_urls_drops_examples_and_bare_hosts() -> None:
    text = (
        "APIs (e.g., https://api.openai.org/v1) and https://example.com/x or http://localhost:8000 "
        "and http://127.0.0.1/a, such as https://github.com/o/r, at www.github.com."
    )
    assert _found(text) == [("https://github.com/o/r", "https://github.com/o/r")]
    kept = find_urls(text, keep_examples=True)
    assert [(u.canonical, u.example) for u in kept] == [
        ("https://api.openai.org/v1", True),
        ("https://example.com/x", True),
        ("http://localhost:8000", True),
        ("http://127.0.0.1/a", True),
        ("https://github.com/o/r", False),
    ]


def test_is_example_url() -> None:
    assert is_example_url("see https://www.example.org/", 4, "https://www.example.org")
    assert is_example_url("for example https://foo.org", 12, "https://foo.org")
    assert not is_example_url("e.g. https://zenodo.org/r/1", 5, "https://zenodo.org/r/1")
    assert not is_example_url("code at https://foo.org", 8, "https://foo.org")
    # doi.org links are data / software links as often as paper links: kept
    assert not is_example_url("data: https://doi.org/10.1/x", 6, "https://doi.org/10.1/x")


def test_every_url_on_the_sample_pages_is_found_and_canonical() -> None:
    from pathlib import Path

    pages = sorted((Path(__file__).parent.parent / "graphs" / "pages").glob("*.txt"))
    if not pages:
        pytest.skip("no sample pages")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for u in find_urls(text):
            assert text[u.start : u.end] == u.text
            assert canonical_url(u.text) == u.canonical
            assert not u.canonical.endswith((".", "/", ")", "}", ",", '"'))
            if "github.com/" in u.canonical:
                assert u.canonical.count("/") == 4, u.canonical


# --- the kgraph_urls component ---------------------------------------------------------------


@pytest.fixture(scope="module")
def nlp() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("kgraph_urls")
    return nlp


def _spans(doc: Doc) -> list[tuple[str, str, str]]:
    return [(s.text, s.label_, s.kb_id_) for s in doc.spans["urls"]]


def test_component_spans_and_extension(nlp: Language) -> None:
    text = "Code is available at https://github.com/jeff024/PALM. Data: https://huggingface.co/LEIA"
    doc = nlp(text)
    assert _spans(doc) == [
        ("https://github.com/jeff024/PALM", LABEL, "https://github.com/jeff024/PALM"),
        ("https://huggingface.co/LEIA", LABEL, "https://huggingface.co/LEIA"),
    ]
    start = text.index("https://github")
    assert doc._.kg_urls == [
        (start, start + 31, "https://github.com/jeff024/PALM"),
        (text.index("https://hug"), len(text), "https://huggingface.co/LEIA"),
    ]
    # the sentence-final period is a token of its own and stays out of the span
    assert doc.spans["urls"][0].end_char == start + 31
    assert doc[doc.spans["urls"][0].end].text == "."


def test_component_contracts_over_closing_brackets(nlp: Language) -> None:
    doc = nlp("the code used for training (https://github.com/hamishivi/EasyLM) and evaluating")
    assert _spans(doc) == [
        ("https://github.com/hamishivi/EasyLM", LABEL, "https://github.com/hamishivi/EasyLM")
    ]
    doc = nlp("Code: https://github.com/ elakhatibi/CDF-RAG.")
    assert _spans(doc) == [
        ("https://github.com/ elakhatibi/CDF-RAG", LABEL, "https://github.com/elakhatibi/CDF-RAG")
    ]


def test_component_keeps_unalignable_urls_in_the_extension(nlp: Language) -> None:
    # spaCy keeps "…/HBI/." as one token: no span could leave the period out
    text = "Project page is available at https://jpthu17.github.io/HBI/."
    doc = nlp(text)
    start = text.index("https")
    assert doc[-1].text == "https://jpthu17.github.io/HBI/."
    assert doc._.kg_urls == [(start, len(text) - 2, "https://jpthu17.github.io/HBI")]
    assert _spans(doc) == []
    # a trailing slash in the URL's token is the URL's own
    text = 'Project page: "http://mmlab.ie.cuhk.edu.hk/projects/CMP/".'
    doc = nlp(text)
    assert _spans(doc) == [
        (
            "http://mmlab.ie.cuhk.edu.hk/projects/CMP/",
            LABEL,
            "http://mmlab.ie.cuhk.edu.hk/projects/CMP",
        )
    ]
    # a URL glued to the word before it: the span holds the whole token
    text = "All code is on GitHub.https://github.com/abhishek9909/misalignment/tree/main"
    doc = nlp(text)
    assert doc._.kg_urls == [
        (text.index("https"), len(text), "https://github.com/abhishek9909/misalignment")
    ]
    assert [s.kb_id_ for s in doc.spans["urls"]] == ["https://github.com/abhishek9909/misalignment"]


def test_component_without_urls(nlp: Language) -> None:
    doc = nlp("Knowledge distillation (KD) has been explored to tackle this challenge.")
    assert doc._.kg_urls == []
    assert list(doc.spans["urls"]) == []
    assert nlp.make_doc("not processed")._.kg_urls is None


def test_component_config_keep_examples() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("kgraph_urls", config={"keep_examples": True, "spans_key": "links"})
    doc = nlp("Query an endpoint such as https://example.com/api.")
    assert [s.kb_id_ for s in doc.spans["links"]] == ["https://example.com/api"]


def test_processed_docs_serialise(nlp: Language) -> None:
    doc = nlp("Code: https://github.com/o/r.")
    bin_ = DocBin(store_user_data=True)
    bin_.add(doc)
    (back,) = DocBin().from_bytes(bin_.to_bytes()).get_docs(nlp.vocab)
    assert [tuple(u) for u in back._.kg_urls] == [(6, 28, "https://github.com/o/r")]
    assert _spans(back) == _spans(doc)
