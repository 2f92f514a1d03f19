"""Score extracted entities against a gold file, paper by paper (``kgraph eval``).

The scoring is the one of the project's reference scorer (``shared/eval/score.py``), so the
figures agree exactly: papers are paired by normalised title; a predicted entity matches a gold
entity of the same paper when any of their surface forms are equal after normalisation (case,
hyphens, a final plural s, spaces); "typed" also needs equal types. Rows: one per type, ``micro``
(typed), ``untyped``, ``named`` (gold with a capital or digit) and ``own`` (proposes/introduces,
relation must agree too).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .records import ENTITY_TYPES

ROWS = [*ENTITY_TYPES, "micro", "untyped", "named", "own"]
Row = dict[str, Any]


def key(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).lower().strip()
    if s.startswith(("http://", "https://")) or "github.com" in s:
        s = re.sub(r"^https?://(www\.)?", "", s)
        return re.sub(r"(\.git)?[/.,;:)]*$", "", s)
    s = re.sub(r"[-_/]", " ", s)
    s = re.sub(r"[^\w\s+#.]", "", s)
    s = s.strip(" .")
    words = s.split()
    if words:
        last = words[-1]
        if len(last) > 3 and last.endswith("s") and not last.endswith("ss"):
            words[-1] = last[:-1]
    return "".join(words)


def title_key(title: str) -> str:
    s = re.sub(r"\\[a-zA-Z]+", "", unicodedata.normalize("NFKC", title))
    return re.sub(r"[\W_]+", "", s.lower())


def _forms(ent: Mapping[str, Any]) -> set[str]:
    out = {key(ent["name"])}
    out.update(key(a) for a in ent.get("aliases") or [])
    out.discard("")
    return out


def _is_named(ent: Mapping[str, Any]) -> bool:
    return any(re.search(r"[A-Z0-9]", t) for t in [ent["name"], *(ent.get("aliases") or [])])


class GoldError(ValueError):
    """A gold or prediction file that cannot be scored (message names file and line)."""


def load_rows(path: str | Path) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise GoldError(
                    f"{path}:{n}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from None
            title = row.get("title") or (row.get("paper") or {}).get("title")
            if not title:
                raise GoldError(f"{path}:{n}: a line has no title")
            if not isinstance(row.get("entities", []), list):
                raise GoldError(f"{path}:{n}: 'entities' must be a list")
            rows[title_key(title)] = row
    return rows


def _match(gold: list[Row], pred: list[Row], typed: bool) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    gforms = [_forms(g) for g in gold]
    for pi, p in enumerate(pred):
        pf = _forms(p)
        for gi, g in enumerate(gold):
            if gi in used or not (pf & gforms[gi]):
                continue
            if typed and p.get("type") != g["type"]:
                continue
            pairs.append((gi, pi))
            used.add(gi)
            break
    return pairs


def _prf(tp: int, npred: int, ngold: int) -> dict[str, float | int]:
    p = tp / npred if npred else 0.0
    r = tp / ngold if ngold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "p": round(p, 4),
        "r": round(r, 4),
        "f1": round(f, 4),
        "tp": tp,
        "pred": npred,
        "gold": ngold,
    }


def score(gold_rows: Mapping[str, Row], pred_rows: Mapping[str, Row]) -> dict[str, Any]:
    """Per-row P/R/F1 of ``pred_rows`` against ``gold_rows`` (both keyed by title key)."""
    c: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    missing = 0
    for tk, grow in gold_rows.items():
        prow = pred_rows.get(tk)
        if prow is None:
            missing += 1
        gold = grow["entities"]
        pred = [e for e in (prow or {}).get("entities", []) if e.get("type") in ENTITY_TYPES]
        typed = _match(gold, pred, typed=True)
        untyped = _match(gold, pred, typed=False)
        for t in ENTITY_TYPES:
            c[t][0] += sum(1 for gi, _ in typed if gold[gi]["type"] == t)
            c[t][1] += sum(1 for e in pred if e["type"] == t)
            c[t][2] += sum(1 for e in gold if e["type"] == t)
        for row, hits in (("micro", typed), ("untyped", untyped)):
            c[row][0] += len(hits)
            c[row][1] += len(pred)
            c[row][2] += len(gold)
        hit = {pi for _, pi in typed}
        named_gold = {gi for gi, g in enumerate(gold) if _is_named(g)}
        gold_of = {pi: gi for gi, pi in typed}
        c["named"][0] += sum(1 for gi, _ in typed if gi in named_gold)
        c["named"][1] += sum(
            1
            for pi, p in enumerate(pred)
            if (pi in hit and gold_of[pi] in named_gold) or (pi not in hit and _is_named(p))
        )
        c["named"][2] += len(named_gold)
        own = {gi for gi, g in enumerate(gold) if g["relation"] in ("proposes", "introduces")}
        c["own"][0] += sum(
            1 for gi, pi in typed if gi in own and pred[pi].get("relation") == gold[gi]["relation"]
        )
        c["own"][1] += sum(1 for e in pred if e.get("relation") in ("proposes", "introduces"))
        c["own"][2] += len(own)
    out: dict[str, Any] = {k: _prf(*v) for k, v in c.items()}
    for k in ROWS:
        out.setdefault(k, _prf(0, 0, 0))
    out["papers"] = {"gold": len(gold_rows), "missing_in_pred": missing}
    return out


def rows_from_predictions(preds: Iterable[Row]) -> dict[str, Row]:
    return {title_key(r["title"]): r for r in preds}


def format_table(result: Mapping[str, Any]) -> str:
    lines = [f"{'':12} {'P':>6} {'R':>6} {'F1':>6} {'tp':>5} {'pred':>5} {'gold':>5}"]
    for k in ROWS:
        v = result[k]
        figures = f"{v['p']:6.3f} {v['r']:6.3f} {v['f1']:6.3f}"
        lines.append(f"{k:12} {figures} {v['tp']:5} {v['pred']:5} {v['gold']:5}")
    lines.append(f"papers: {result['papers']}")
    return "\n".join(lines)
