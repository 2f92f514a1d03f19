"""Repository URLs: every code, data, model or project-page link in a paper's text.

Public API
----------
- :func:`canonical_url` — one raw URL as written -> its canonical form, or ``None``.
- :func:`find_urls` — every URL occurrence in a text, as :class:`UrlMatch` records.
- :func:`is_example_url` — the conservative "this is a quoted example, not a link" filter.
- spaCy factory ``"kgraph_urls"`` (:class:`UrlFinder`), which writes

  * ``doc._.kg_urls``: ``list[tuple[int, int, str]]`` — ``(start_char, end_char, canonical)`` per
    occurrence, in text order. This is the source of truth; ``text[start:end]`` is the URL as
    written minus trailing punctuation.
  * ``doc.spans["urls"]``: one token-aligned :class:`~spacy.tokens.Span` per occurrence, label
    ``"repository"``, ``kb_id_`` the canonical URL. A convenience: an occurrence whose only
    token alignment would swallow trailing punctuation has no span (see :func:`align_span`).

Canonical forms (``spec/entities.md``, "repository")
----------------------------------------------------
- Trailing punctuation and wrapping goes: ``. , ; : ! ? ' " * /`` and a closing ``) ] }`` when it
  is unbalanced in the URL (``.../open-instruct)`` loses it, ``.../Foo_(film)`` keeps it).
- Code hosts (GitHub, GitLab, Bitbucket, Gitee) -> ``https://host/owner/repo``: https, host
  lower-cased without ``www.``, no ``.git``, no sub-path, query or fragment. An owner-only URL stays
  ``https://github.com/owner``. GitLab keeps its sub-groups (``gitlab.com/group/sub/project``):
  the project path ends at ``/-/`` or at a sub-page keyword (``tree``, ``blob`` ...).
- Everything else (``*.github.io``, huggingface.co, anonymous.4open.science, doi.org, project
  pages) is kept as written minus trailing punctuation; ``http://`` stays ``http://``.
- A URL written without a scheme is recognised only as ``www.…`` or on a known host
  (``github.com/o/r``, ``huggingface.co/…``, ``name.github.io``). Hosts that only serve https
  (code hosts, huggingface.co, hf.co, ``*.github.io``) get ``https://``; other bare ``www.`` URLs
  are kept without a scheme rather than inventing one.
- LaTeX noise is undone: ``\\_`` -> ``_`` (also ``\\% \\& \\# \\~``), ``github$.$com`` ->
  ``github.com``; ``\\url{…}`` / ``\\href{…}{…}`` wrappers are cut at the brace.
- URLs broken by a line wrap or a stray space are re-joined in the common cases seen in arXiv
  abstracts: ``https://\\nanonymous.4open.science/r/x``, ``https://github. com/o/r``,
  ``https://github.com/ o/r``, ``https://github.com/o/ Repo-1`` (only when the next word looks
  like a repository name: it holds an upper-case letter, digit, ``-`` or ``_``) and a URL
  wrapped after a hyphen (``…/KVQE-\nChallenge``). ``https://githubhttps://github.com/o/r`` and
  Markdown ``[url](url)`` are split into their URLs.
- ``GITHUB_RESERVED`` first segments (``github.com/orgs/x``, ``/topics/x`` …) name no
  repository: such URLs keep their path.

Filter (spec: "example URLs quoted in the text are not" repositories)
---------------------------------------------------------------------
Conservative: only ``example.com/.org/.net`` (and sub-domains), ``localhost``, ``127.0.0.1`` and
``0.0.0.0`` URLs, and URLs introduced by "e.g." / "for example" / "for instance" / "such as"
within the five words before them, unless they are on a code/data host, are dropped
(``find_urls(keep_examples=True)`` keeps them, flagged). A bare code-host root
(``www.github.com``) names no repository and is dropped too. doi.org
links are kept (they point at data sets and software as often as at papers). E-mail addresses are
never matched: a bare host preceded by ``@`` is not a URL, and ``user@host`` URLs are rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from spacy.language import Language
from spacy.tokens import Doc, Span

from .view import TEXT_KEY, doc_text

__all__ = [
    "CODE_HOSTS",
    "GITHUB_RESERVED",
    "LABEL",
    "TEXT_KEY",
    "UrlFinder",
    "UrlMatch",
    "align_span",
    "canonical_url",
    "doc_text",
    "find_urls",
    "is_example_url",
    "make_url_finder",
]

LABEL: Final = "repository"


CODE_HOSTS: Final = frozenset({"github.com", "gitlab.com", "bitbucket.org", "gitee.com"})
#: hosts that serve https only: a missing scheme becomes https://
_HTTPS_HOSTS: Final = CODE_HOSTS | {"huggingface.co", "hf.co"}
#: hosts whose links are code/data/models even when introduced by "e.g."
_DATA_HOSTS: Final = _HTTPS_HOSTS | {
    "anonymous.4open.science",
    "zenodo.org",
    "figshare.com",
    "kaggle.com",
    "osf.io",
    "drive.google.com",
    "dataverse.harvard.edu",
    "pypi.org",
    "codeocean.com",
}
_CODE_HOST_ROOTS: Final = frozenset(f"https://{h}" for h in CODE_HOSTS)
_EXAMPLE_HOSTS: Final = frozenset(
    {"example.com", "example.org", "example.net", "localhost", "127.0.0.1", "0.0.0.0"}
)
#: demo videos and social posts: links, but not code, data, model or project pages
_NOT_REPOSITORY_HOSTS: Final = frozenset(
    {
        "youtube.com",
        "youtu.be",
        "vimeo.com",
        "bilibili.com",
        "twitter.com",
        "x.com",
        "facebook.com",
        "linkedin.com",
        "instagram.com",
        "tiktok.com",
    }
)
GITHUB_RESERVED: Final = frozenset(
    {
        "orgs", "users", "topics", "features", "marketplace", "sponsors", "collections",
        "settings", "apps", "about", "login", "search", "explore", "trending", "pricing",
        "enterprise", "security", "site", "events", "notifications", "pulls", "issues",
    }
)  # fmt: skip
_GITLAB_SUBPAGES: Final = frozenset(
    {"tree", "blob", "raw", "commits", "commit", "issues", "merge_requests", "wikis", "releases",
     "tags", "branches", "pipelines", "jobs", "archive"}
)  # fmt: skip

# --- patterns ---------------------------------------------------------------------------------

#: characters that end a URL: white space, quotes, angle brackets, braces, backslash (unless
#: it escapes one of _%&#~$ as in LaTeX), and CJK / typographic punctuation
_STOP = '\\s<>"{}|\\\\^`“”‘’«»。，；：（）【】、'
_CH = f"(?:[^{_STOP}]|\\\\[_%&#~$])"
_BARE_HOST_RE = r"(?:github\.com|gitlab\.com|bitbucket\.org|gitee\.com|huggingface\.co|hf\.co)"
_URL_RE: Final = re.compile(
    "(?:"
    r"https?://[ \t]?\n?[ \t]?"  # a line break right after the scheme is a wrapped URL
    r"|(?<![\w@./-])www\."
    rf"|(?<![\w@./-]){_BARE_HOST_RE}/"
    r"|(?<![\w@./-])[A-Za-z0-9][A-Za-z0-9-]*\.github\.io(?![\w-])"
    f"){_CH}*",
    re.IGNORECASE,
)
_INNER_SCHEME: Final = re.compile(r"(?<=[A-Za-z0-9])https?://", re.IGNORECASE)
#: white space a wrapped URL may hold (never a blank line), then the next run of URL characters
_GAP_NEXT: Final = re.compile(f"(?:[ \\t]{{1,2}}|[ \\t]?\\n[ \\t]?)({_CH}+)")
_BROKEN_HOST: Final = re.compile(r"(?:https?://)?(?:[A-Za-z0-9-]+\.)+", re.IGNORECASE)
_HOST_CONTINUES: Final = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*/")
_BROKEN_ROOT: Final = re.compile(rf"(?:https?://)?(?:www\.)?{_BARE_HOST_RE}/", re.IGNORECASE)
_OWNER_REPO: Final = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_BROKEN_OWNER: Final = re.compile(
    rf"(?:https?://)?(?:www\.)?{_BARE_HOST_RE}/[\w.-]+/", re.IGNORECASE
)
_REPO_WORD: Final = re.compile(r"[\w.-]*[A-Z0-9_-][\w.-]*")
_WRAPPED_AT_HYPHEN: Final = re.compile(r"[A-Za-z0-9]")

_SCHEME: Final = re.compile(r"(https?)://", re.IGNORECASE)
_LEADING: Final = re.compile(r"^(?:\\url\{|\\href\{|[(\[{<\"'“‘])+")
_BREAK_AFTER_SEP: Final = re.compile(r"(://|[/.-])\s+")
_DOUBLE_SCHEME: Final = re.compile(r"^(?:https?://)+(?=https?://)", re.IGNORECASE)
_LATEX_ESCAPE: Final = re.compile(r"\\([_%&#~$])")
_HOST: Final = re.compile(
    r"(?:(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}|\d{1,3}(?:\.\d{1,3}){3}|localhost)(?::\d{1,5})?",
)
_BARE_OK: Final = re.compile(
    rf"(?:www\.|{_BARE_HOST_RE}(?:[:/]|$)|[A-Za-z0-9][A-Za-z0-9-]*\.github\.io(?:[:/]|$))",
    re.IGNORECASE,
)
_EXAMPLE_CUE: Final = re.compile(r"\b(?:e\.\s?g\.|eg\.|for example|for instance|such as)", re.I)

_TRAILING: Final = frozenset(".,;:!?'\"*/")
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}


def _strip_trailing(s: str) -> str:
    """Drop trailing punctuation; a closing bracket only when it has no opener in ``s``."""
    while s:
        last = s[-1]
        unbalanced = last in _CLOSERS and s.count(last) > s.count(_CLOSERS[last])
        if last not in _TRAILING and not unbalanced:
            break
        s = s[:-1]
    return s


def _canonical_code_url(host: str, path: str) -> str:
    """``https://host/owner/repo`` for a code host; ``path`` is everything after the host."""
    for sep in "?#":
        path = path.split(sep, 1)[0]
    segments = [p for p in path.split("/") if p]
    base = f"https://{host}"
    if not segments:
        return base
    if len(segments) == 1 or (host == "github.com" and segments[0].lower() in GITHUB_RESERVED):
        return base + "/" + "/".join(segments)
    if host == "gitlab.com":
        project = segments[: segments.index("-")] if "-" in segments else segments
        for i, seg in enumerate(project[2:], 2):
            if seg in _GITLAB_SUBPAGES:
                project = project[:i]
                break
    else:
        project = segments[:2]
    repo = project[-1]
    if repo.lower().endswith(".git"):
        repo = repo[:-4]
    repo = repo.rstrip(".")
    project = [*project[:-1], repo] if repo else project[:-1]
    return base + "/" + "/".join(project)


def canonical_url(raw: str) -> str | None:
    """The canonical form of one URL as written in a text, or ``None`` if it is not a URL.

    >>> canonical_url("https://github.com/allenai/open-instruct).")
    'https://github.com/allenai/open-instruct'
    >>> canonical_url("https://stylesinger.github.io/.")
    'https://stylesinger.github.io'
    >>> canonical_url("not a url") is None
    True
    """
    s = _LEADING.sub("", raw.strip())
    s = _BREAK_AFTER_SEP.sub(r"\1", s)
    if not s or any(c.isspace() for c in s):
        return None
    s = _LATEX_ESCAPE.sub(r"\1", _DOUBLE_SCHEME.sub("", s.replace("$.$", ".")))
    s = _strip_trailing(s)
    m = _SCHEME.match(s)
    scheme = m.group(1).lower() if m else None
    rest = s[m.end() :] if m else s
    if scheme is None and not _BARE_OK.match(rest):
        return None
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    hostport, tail = rest[:cut], rest[cut:]
    if not _HOST.fullmatch(hostport):
        return None  # also rejects user@host and e-mail addresses
    host = hostport.lower()
    bare_host = host.removeprefix("www.")
    if bare_host in CODE_HOSTS:
        return _canonical_code_url(bare_host, tail)
    if scheme is None:
        if bare_host in _HTTPS_HOSTS or bare_host.endswith(".github.io"):
            return "https://" + rest
        return rest
    return f"{scheme}://{rest}"


def _host_of(canonical: str) -> str:
    rest = _SCHEME.sub("", canonical, count=1)
    host = re.split(r"[/?#:]", rest, maxsplit=1)[0].lower()
    return host.removeprefix("www.")


def is_example_url(text: str, start: int, canonical: str) -> bool:
    """True for a URL that only illustrates something (``https://example.com``, "e.g. https://...")
    or that is no code/data/project link (a demo video on youtube.com).

    ``start`` is the URL's offset in ``text``; the five words before it are checked for a cue.
    Links on code/data hosts are never examples.
    """
    host = _host_of(canonical)
    for hosts in (_EXAMPLE_HOSTS, _NOT_REPOSITORY_HOSTS):
        if host in hosts or any(host.endswith("." + h) for h in hosts):
            return True
    if host in _DATA_HOSTS or host.endswith((".github.io", ".gitlab.io")):
        return False
    before = " ".join(text[max(0, start - 60) : start].split()[-5:])
    return bool(_EXAMPLE_CUE.search(before))


def _join_broken(text: str, start: int, end: int) -> int:
    """Extend a URL across a line wrap or stray space when the common broken forms match."""
    for _ in range(3):
        nxt = _GAP_NEXT.match(text, end)
        if nxt is None:
            return end
        raw, word = "".join(text[start:end].split()), nxt.group(1)
        if (
            (_BROKEN_HOST.fullmatch(raw) and _HOST_CONTINUES.match(word))
            or (_BROKEN_ROOT.fullmatch(raw) and _OWNER_REPO.match(word))
            or (
                _BROKEN_OWNER.fullmatch(raw)
                and _REPO_WORD.fullmatch(_strip_trailing(word))
                and "/" not in word
            )
            or (raw.endswith("-") and len(raw) > 9 and _WRAPPED_AT_HYPHEN.match(word))
        ):
            end = nxt.end()
        else:
            return end
    return end


@dataclass(frozen=True)
class UrlMatch:
    """One URL occurrence: ``text[start:end]`` as written (trailing punctuation excluded)."""

    start: int
    end: int
    text: str
    canonical: str
    example: bool = False


#: every match of _URL_RE holds one of these (case-folded) at its start, or ".github.io" after
#: the host name it starts with
_URL_ANCHORS: Final = (
    "http",
    "www.",
    *(f"{host}/" for host in ("github.com", "gitlab.com", "bitbucket.org", "gitee.com")),
    "huggingface.co/",
    "hf.co/",
)
#: the only non-ASCII characters that match ASCII letters under re.IGNORECASE
_FOLD: Final = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def _url_search(text: str, folded: str | None, pos: int) -> re.Match[str] | None:
    """``_URL_RE.search(text, pos)``, faster: the regex (case-insensitive, with lookbehinds at
    every position) only runs from the first place a URL could start, found by plain substring
    search in ``folded`` (``text`` case-folded, same length; ``None`` to search the plain way)."""
    if folded is None:
        return _URL_RE.search(text, pos)
    first = -1
    for anchor in _URL_ANCHORS:
        i = folded.find(anchor, pos)
        if i >= 0 and (first < 0 or i < first):
            first = i
    io = folded.find(".github.io", pos)
    if io >= 0:
        # the match starts at the host name: go back over the characters it may hold
        while io > pos and (folded[io - 1].isalnum() or folded[io - 1] in "_-"):
            io -= 1
        first = io if first < 0 else min(first, io)
    return None if first < 0 else _URL_RE.search(text, first)


def _candidates(text: str) -> Iterator[tuple[int, int]]:
    folded = text.translate(_FOLD).lower()
    # (a character whose lower case is longer would shift the offsets: search the plain way)
    anchors = folded if len(folded) == len(text) else None
    pos = 0
    while True:
        m = _url_search(text, anchors, pos)
        if m is None:
            return
        start, end = m.start(), m.end()
        inner = _INNER_SCHEME.search(text, start + 1, end)
        if inner is not None:  # "https://githubhttps://github.com/..." -> two candidates
            end = inner.start()
        markdown = text.find("](", start, end)
        if markdown >= 0:  # "[https://x/y](https://x/y)": the link text ends at "]("
            end = markdown + 1
        end = _join_broken(text, start, end)
        pos = max(end, start + 1)
        yield start, end


def find_urls(text: str, *, keep_examples: bool = False) -> list[UrlMatch]:
    """Every URL in ``text``, in order. Example URLs are left out unless ``keep_examples``."""
    found: list[UrlMatch] = []
    if "://" not in text and "www." not in text and "github" not in text and ".co/" not in text:
        return found  # fast path: the regex could not match anything useful
    for start, end in _candidates(text):
        raw = text[start:end]
        canonical = canonical_url(raw)
        if canonical is None or canonical in _CODE_HOST_ROOTS:
            continue  # not a URL, or a bare "https://github.com" that names no repository
        end = start + len(_strip_trailing(raw))
        example = is_example_url(text, start, canonical)
        if example and not keep_examples:
            continue
        found.append(UrlMatch(start, end, text[start:end], canonical, example))
    return found


def align_span(doc: Doc, start: int, end: int) -> Span | None:
    """The token span for the URL at characters ``start:end``, or ``None``.

    Expanded to whole tokens at the start (``\\url{https://…`` is one token). At the end, a
    span must not swallow the punctuation that was stripped from the URL: when expanding would
    (``…/repo`` + ``.`` or ``)`` tokens), the end is contracted instead; when the URL and that
    punctuation share one token (``…github.io/HBI/.``), there is no span — ``doc._.kg_urls``
    still has the URL. A trailing ``/`` in the same token is allowed (it is the URL's own).
    """
    wide = doc.char_span(start, end, alignment_mode="expand")
    if wide is None or wide.end_char <= end:
        return wide
    if not wide.text[end - wide.start_char :].strip("/"):
        return wide
    tight = doc.char_span(wide.start_char, end, alignment_mode="contract")
    return tight if tight is not None and len(tight) > 0 else None


if not Doc.has_extension("kg_urls"):
    Doc.set_extension("kg_urls", default=None)


class UrlFinder:
    """spaCy component: ``doc._.kg_urls`` and ``doc.spans[spans_key]`` (see the module doc)."""

    def __init__(self, spans_key: str = "urls", keep_examples: bool = False) -> None:
        self.spans_key = spans_key
        self.keep_examples = keep_examples

    def __call__(self, doc: Doc) -> Doc:
        found = find_urls(doc_text(doc), keep_examples=self.keep_examples)
        spans: list[Span] = []
        for url in found:
            span = align_span(doc, url.start, url.end)
            if span is not None:
                spans.append(Span(doc, span.start, span.end, label=LABEL, kb_id=url.canonical))
        doc.spans[self.spans_key] = spans
        doc._.kg_urls = [(u.start, u.end, u.canonical) for u in found]
        return doc


@Language.factory(
    "kgraph_urls",
    default_config={"spans_key": "urls", "keep_examples": False},
)
def make_url_finder(nlp: Language, name: str, spans_key: str, keep_examples: bool) -> UrlFinder:
    """Factory for ``nlp.add_pipe("kgraph_urls")``."""
    return UrlFinder(spans_key=spans_key, keep_examples=keep_examples)
