"""Progress bars for long commands: papers/s and ETA on a terminal, nothing in a pipe.

A bar is shown only when stderr is a terminal and the user did not ask for quiet
(``kgraph -q`` / ``--quiet``); otherwise :func:`bar` returns a silent one with the same API.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

__all__ = ["bar", "shown"]


def shown(quiet: bool = False) -> bool:
    """Whether progress is shown: not quiet and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


def bar(total: int | None, desc: str, *, quiet: bool = False, unit: str = "paper") -> Any:
    """A context manager with ``update(n)``: a tqdm bar with rate and ETA, or a silent one."""
    return tqdm(
        total=total,
        desc=f"kgraph: {desc}",
        unit=unit,
        unit_scale=False,
        dynamic_ncols=True,
        smoothing=0.1,
        mininterval=0.25,
        file=sys.stderr,
        disable=not shown(quiet),
        leave=True,
    )
