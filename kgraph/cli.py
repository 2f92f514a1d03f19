"""The ``kgraph`` command line: a thin layer over the library API.

Every command reports bad input as one line naming file and line, keeps going where it is safe,
and ends with a summary on stderr. Exit status: 0 on success (even if some records were
skipped), 1 when nothing could be read, 2 for usage errors. No traceback reaches the user.
"""

from __future__ import annotations

import inspect
import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from . import __version__
from .readers import FORMATS, Problem, ReadLog, ReadResult, read_papers

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class NothingRead(click.ClickException):
    exit_code = 1


@dataclass
class Settings:
    verbosity: int = 0  #: -1 quiet, 0 normal, 1+ verbose

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            click.echo(f"kgraph: {message}", err=True)

    def detail(self, message: str) -> None:
        if self.verbosity >= 1:
            click.echo(f"kgraph: {message}", err=True)

    def problem(self, problem: Problem) -> None:
        if problem.skipped or self.verbosity >= 0:
            level = "error" if problem.skipped else "warning"
            click.echo(f"kgraph: {level}: {problem}", err=True)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counter.most_common())


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def read_inputs(settings: Settings, inputs: Sequence[str], fmt: str | None) -> ReadResult:
    """Read every input, print problems as they come and a summary; fail if nothing was read."""
    log = ReadLog(on_problem=settings.problem)
    result = read_papers(inputs, None if fmt in (None, "auto") else fmt, log)
    settings.info(
        f"read {_plural(result.entries, 'entry').replace('entrys', 'entries')} from "
        f"{_plural(result.files, 'file')}: {_plural(len(result.papers), 'distinct paper')} "
        f"({_plural(result.duplicates, 'duplicate')} merged)"
    )
    skipped = log.skipped_by_kind()
    if skipped:
        settings.info(f"skipped {sum(skipped.values()):,}: {_counts(skipped)}")
    warned = log.warnings_by_kind()
    if warned:
        settings.info(f"warnings {sum(warned.values()):,}: {_counts(warned)}")
    if not result.papers:
        raise NothingRead("no papers could be read from the input")
    return result


def with_example(example: str) -> Callable[[F], F]:
    """Append an Examples section to a command's help."""

    def deco(fn: F) -> F:
        doc = inspect.cleandoc(fn.__doc__ or "")
        fn.__doc__ = f"{doc}\n\n\b\nExample:\n{example.rstrip()}\n"
        return fn

    return deco


input_format_option = click.option(
    "--input-format",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    show_default=True,
    help="Format of the inputs; auto picks by extension, else sniffs the content.",
)
inputs_argument = click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="kgraph")
@click.option("-v", "--verbose", count=True, help="Say more (repeat for more detail).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors: no summaries or progress.")
@click.pass_context
@with_example("  kgraph papers graphs/pages/*.txt --format table")
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Build a knowledge graph of ML papers: methods, datasets, benchmarks, metrics,
    tasks and code, with the evidence for every edge.

    INPUT may be a file, a folder, a glob or - for stdin. Formats: Hugging Face Daily
    Papers pages saved as text, JSON/JSONL (gzip too), arXiv Atom XML, BibTeX, CSV.
    """
    ctx.obj = Settings(verbosity=-1 if quiet else verbose)


@cli.command(context_settings=CONTEXT)
@inputs_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "table"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one JSON object per paper; table: a readable listing.",
)
@input_format_option
@click.pass_obj
@with_example(
    "  kgraph papers graphs/pages/*.txt > papers.jsonl\n"
    "  kgraph papers export.bib arxiv.xml --format table"
)
def papers(settings: Settings, inputs: tuple[str, ...], fmt: str, input_format: str) -> None:
    """Read paper listings and print the distinct papers (duplicates merged)."""
    result = read_inputs(settings, inputs, input_format)
    if fmt == "jsonl":
        for paper in result.papers:
            click.echo(json.dumps(paper.to_dict(), ensure_ascii=False))
        return
    width = shutil.get_terminal_size((120, 24)).columns
    title_width = max(20, width - 16 - 12 - 6 - 3)
    click.echo(f"{'id':<16} {'published':<11} {'up':>5} title")
    for paper in result.papers:
        title = " ".join(paper.title.split())
        if len(title) > title_width:
            title = title[: title_width - 1] + "…"
        up = "" if paper.upvotes is None else str(paper.upvotes)
        click.echo(f"{paper.id:<16} {paper.published or '':<11} {up:>5} {title}")


def _extraction_rows(
    settings: Settings, inputs: Sequence[str], input_format: str
) -> list[dict[str, Any]]:
    from .extract.pipeline import default_pipeline, extract_papers

    result = read_inputs(settings, inputs, input_format)
    nlp = default_pipeline()
    rows = []
    with click.progressbar(
        length=len(result.papers),
        label="kgraph: extracting",
        file=sys.stderr,
        hidden=settings.verbosity < 0 or not sys.stderr.isatty(),
    ) as bar:
        for paper, entities in extract_papers(result.papers, nlp):
            rows.append(
                {"id": paper.id, "title": paper.title, "entities": [e.to_dict() for e in entities]}
            )
            bar.update(1)
    n = sum(len(r["entities"]) for r in rows)
    settings.info(f"extracted {n:,} entities from {len(rows):,} papers")
    return rows


@cli.command(context_settings=CONTEXT)
@inputs_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl"]),
    default="jsonl",
    show_default=True,
    help="Output format: one JSON object per distinct paper.",
)
@input_format_option
@click.pass_obj
@with_example(
    "  kgraph extract graphs/pages/*.txt > entities.jsonl\n"
    "  kgraph extract papers.jsonl.gz | jq '.entities[] | select(.relation == \"proposes\")'"
)
def extract(settings: Settings, inputs: tuple[str, ...], fmt: str, input_format: str) -> None:
    """Extract methods, datasets, benchmarks, metrics, tasks and code URLs per paper.

    Prints one JSON object per distinct paper: {"id", "title", "entities": [{"name",
    "type", "relation", "aliases", "confidence", "mentions": [{"start", "end", "text",
    "source"}]}]}. Offsets index into the title, a blank line, then the abstract.
    """
    for row in _extraction_rows(settings, inputs, input_format):
        click.echo(json.dumps(row, ensure_ascii=False))


@cli.command("eval", context_settings=CONTEXT)
@click.argument("gold", type=click.Path(exists=True, dir_okay=False))
@inputs_argument
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the predictions (extract's JSONL) to this file.",
)
@input_format_option
@click.pass_obj
@with_example(
    "  kgraph eval my-gold.jsonl graphs/pages/*.txt\n"
    "  kgraph eval my-gold.jsonl papers.jsonl --json > scores.json"
)
def eval_(
    settings: Settings,
    gold: str,
    inputs: tuple[str, ...],
    as_json: bool,
    predictions: str | None,
    input_format: str,
) -> None:
    """Score the extraction of INPUT... against a GOLD file (per-type P/R/F1).

    GOLD holds one {"title", "entities": [{"name", "aliases", "type", "relation"}]} per
    line, the format of shared/eval/dev-gold.jsonl; papers are paired by title. The
    figures are those of the reference scorer, shared/eval/score.py.
    """
    from .evaluate import GoldError, format_table, load_rows, rows_from_predictions, score
    from .io import atomic_write_text

    try:
        gold_rows = load_rows(gold)
    except GoldError as exc:
        raise click.ClickException(str(exc)) from None
    rows = _extraction_rows(settings, inputs, input_format)
    if predictions:
        atomic_write_text(
            predictions, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
    result = score(gold_rows, rows_from_predictions(rows))
    missing = result["papers"]["missing_in_pred"]
    if missing:
        settings.info(f"{missing} gold papers were not found in the input (scored as empty)")
    click.echo(json.dumps(result, indent=1) if as_json else format_table(result))


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: no traceback ever reaches the user."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None, prog_name="kgraph", standalone_mode=False
        )
    except click.exceptions.Abort:
        click.echo("kgraph: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        click.echo("kgraph: interrupted", err=True)
        return 130
    except Exception as exc:
        click.echo(f"kgraph: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("kgraph: please report this with the command that caused it", err=True)
        return 70
    return 0
