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
from pathlib import Path
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
no_model_option = click.option(
    "--no-model",
    is_flag=True,
    help="Rules only: skip the learned span tagger (faster, fewer candidates).",
)


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
    settings: Settings, inputs: Sequence[str], input_format: str, model: bool = True
) -> list[dict[str, Any]]:
    from .extract.pipeline import default_pipeline, extract_papers

    result = read_inputs(settings, inputs, input_format)
    nlp = default_pipeline(model=model)
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
@no_model_option
@click.pass_obj
@with_example(
    "  kgraph extract graphs/pages/*.txt > entities.jsonl\n"
    "  kgraph extract papers.jsonl.gz | jq '.entities[] | select(.relation == \"proposes\")'"
)
def extract(
    settings: Settings, inputs: tuple[str, ...], fmt: str, input_format: str, no_model: bool
) -> None:
    """Extract methods, datasets, benchmarks, metrics, tasks and code URLs per paper.

    Prints one JSON object per distinct paper: {"id", "title", "entities": [{"name",
    "type", "relation", "aliases", "confidence", "mentions": [{"start", "end", "text",
    "source"}]}]}. Offsets index into the title, a blank line, then the abstract.
    """
    for row in _extraction_rows(settings, inputs, input_format, model=not no_model):
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
@no_model_option
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
    no_model: bool,
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
    rows = _extraction_rows(settings, inputs, input_format, model=not no_model)
    if predictions:
        atomic_write_text(
            predictions, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
    result = score(gold_rows, rows_from_predictions(rows))
    missing = result["papers"]["missing_in_pred"]
    if missing:
        settings.info(f"{missing} gold papers were not found in the input (scored as empty)")
    click.echo(json.dumps(result, indent=1) if as_json else format_table(result))


class BundleProblem(click.ClickException):
    exit_code = 1


@cli.command("build", context_settings=CONTEXT)
@inputs_argument
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(),
    help="The bundle folder: created if missing, added to if it holds a bundle.",
)
@click.option(
    "--re-extract", is_flag=True, help="Extract every paper again, not only the new ones."
)
@input_format_option
@click.pass_obj
@with_example(
    "  kgraph build graphs/pages/*.txt -o out/graph\n"
    "  kgraph build new-page.txt -o out/graph     # adds only the papers not yet in it"
)
def build_(
    settings: Settings, inputs: tuple[str, ...], out_dir: str, re_extract: bool, input_format: str
) -> None:
    """Read, extract and resolve INPUT... into a graph bundle folder.

    The folder holds graph.json (networkx node-link JSON, see schemas/graph.schema.json),
    papers.jsonl, extractions.jsonl, manifest.json (versions, input hashes, counts) and the
    default exports. Inputs already in the bundle (same SHA-256) are skipped; only papers
    new to the bundle are extracted, then the whole graph is resolved again. Building again
    with the same inputs changes nothing.
    """
    from .bundle import BuildReport, BundleError, build

    log = ReadLog(on_problem=settings.problem)

    def on_read(report: BuildReport) -> None:
        if report.inputs_new:
            settings.info(
                f"read {_plural(report.entries, 'entry').replace('entrys', 'entries')} from "
                f"{_plural(len(report.inputs_new), 'new input')}: "
                f"{_plural(len(report.added) + report.known, 'distinct paper')} "
                f"({_plural(report.duplicates, 'duplicate')} merged)"
            )
        if report.inputs_seen:
            settings.info(
                f"skipped {_plural(len(report.inputs_seen), 'input')} already in the bundle"
            )
        skipped = log.skipped_by_kind()
        if skipped:
            settings.info(f"skipped {sum(skipped.values()):,}: {_counts(skipped)}")
        nothing = not report.inputs_seen and not report.entries and not report.updated
        if nothing and not (Path(out_dir) / "manifest.json").exists():
            raise NothingRead("no papers could be read from the input")

    def progress(total: int) -> Any:
        settings.detail(f"extracting {_plural(total, 'paper')}")
        return click.progressbar(
            length=total,
            label="kgraph: extracting",
            file=sys.stderr,
            hidden=settings.verbosity < 0 or not sys.stderr.isatty(),
        )

    fmt = None if input_format in (None, "auto") else input_format
    try:
        report = build(
            out_dir,
            inputs,
            fmt=fmt,
            log=log,
            progress=progress,
            re_extract=re_extract,
            on_read=on_read,
        )
    except BundleError as exc:
        raise BundleProblem(str(exc)) from None
    counts = report.counts
    if report.re_extract_all and report.extracted:
        settings.info(f"extracted all {_plural(report.extracted, 'paper')} again")
    if not report.written:
        settings.info(
            f"nothing new: {out_dir} is up to date ({_plural(counts.get('papers', 0), 'paper')})"
        )
        return
    what = (
        f"added {_plural(len(report.added), 'paper')} ({report.known:,} already in the bundle)"
        if report.inputs_new
        else f"rebuilt {_plural(counts['papers'], 'paper')}"
    )
    settings.info(
        f"{what}, {counts['entities']:,} entities (from "
        f"{counts['entity_mentions_before_resolution']:,} per-paper entities), "
        f"{counts['edges']:,} edges, {counts['results']:,} results -> {out_dir} "
        f"({report.seconds:.1f} s)"
    )


@cli.command(context_settings=CONTEXT)
@click.argument("bundle", metavar="DIR", type=click.Path())
@click.option(
    "--top", default=20, show_default=True, type=click.IntRange(0), help="Top entities shown."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
@with_example("  kgraph stats out/graph\n  kgraph stats out/graph --top 50 --json > stats.json")
def stats(settings: Settings, bundle: str, top: int, as_json: bool) -> None:
    """Counts of a graph bundle: papers and entities by type, edges by relation, the top
    entities by number of papers, connected components and what resolution merged."""
    from .bundle import BundleError, bundle_stats

    try:
        figures = bundle_stats(bundle, top=top)
    except BundleError as exc:
        raise BundleProblem(str(exc)) from None
    if as_json:
        click.echo(json.dumps(figures, indent=1, ensure_ascii=False))
        return
    click.echo(_format_stats(figures))


def _format_stats(f: dict[str, Any]) -> str:
    def listing(d: dict[str, int]) -> str:
        return ", ".join(f"{n:,} {k}" for k, n in sorted(d.items(), key=lambda kv: -kv[1]))

    comp = f["components"]
    lines = [
        f"bundle      {f['bundle']} (kgraph {f['kgraph_version']}, {f['inputs']} inputs, "
        f"updated {f['updated']})",
        f"papers      {f['papers']:,}",
        f"entities    {f['entities']:,}: {listing(f['entities_by_type'])}",
        f"results     {f['results']:,}",
        f"edges       {f['edges']:,}: {listing(f['edges_by_relation'])}",
        f"shared      {f['entities_in_2_or_more_papers']:,} entities in 2 or more papers "
        f"({100 * f['share_in_2_or_more_papers']:.1f}%)",
    ]
    if f.get("entity_mentions_before_resolution") is not None:
        lines.append(
            f"merged      {f['entity_mentions_before_resolution']:,} per-paper entities -> "
            f"{f['entities']:,} entities ({f['entities_merged']:,} merged); "
            f"{f['paper_records_read']:,} paper records -> {f['papers']:,} papers "
            f"({f['paper_records_merged']:,} duplicates merged)"
        )
    lines.append(
        f"components  {comp['count']:,} (largest: {comp['largest_nodes']:,} nodes, "
        f"{comp['largest_papers']:,} papers = {100 * comp['largest_share_of_papers']:.1f}%; "
        f"{comp['isolated_papers']:,} papers with no entity)"
    )
    if f["top_entities"]:
        lines.append(f"top {len(f['top_entities'])} entities by papers:")
        width = max(len(e["id"]) for e in f["top_entities"])
        for e in f["top_entities"]:
            lines.append(f"  {e['papers']:>5}  {e['id']:<{width}}  {e['name']}")
    return "\n".join(lines)


# --- export (registry: kgraph.exporters) ------------------------------------------------------


class _FormatHelp(click.Command):
    """Lists the registered export formats in --help (they are known only after import)."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help(ctx, formatter)
        with formatter.section("Formats"):
            from .exporters import exporters

            rows = [(n, e.description) for n, e in exporters().items()]
            formatter.write_dl(rows or [("(none)", "no exporter is installed")])


@cli.command("export", cls=_FormatHelp, context_settings=CONTEXT)
@click.argument("bundle", metavar="DIR", type=click.Path())
@click.option(
    "-f",
    "--format",
    "fmt",
    metavar="FORMAT",
    help="Export format (see Formats below); default: from the extension of -o.",
)
@click.option(
    "-o",
    "--output",
    "output",
    default="-",
    show_default=True,
    type=click.Path(allow_dash=True),
    help="The file (or folder, for neo4j) to write; - writes single-file formats to stdout.",
)
@click.option(
    "--base",
    default=None,
    metavar="IRI",
    help="Base of the data IRIs in RDF formats (papers, entities, mentions, graphs).",
)
@click.pass_obj
@with_example(
    "  kgraph export out/graph --format ttl -o graph.ttl\n"
    "  kgraph export out/graph --format trig --base https://example.org/kg/ -o graph.trig\n"
    "  kgraph export out/graph --format neo4j -o neo4j-import/"
)
def export_(
    settings: Settings, bundle: str, fmt: str | None, output: str, base: str | None
) -> None:
    """Export the graph bundle DIR to a file: RDF (Turtle, N-Triples, N-Quads, TriG, JSON-LD,
    RDF/XML) or graph-database formats (GraphML, GEXF, node-link JSON, Neo4j CSVs, Cypher).

    Writes are atomic: an interrupted export never leaves half a file.
    """
    import tempfile

    from .bundle import BundleError
    from .exporters import DEFAULT_BASE, UnknownFormat, export_bundle, exporters, get

    if fmt is None:
        by_ext = {e.extension: n for n, e in exporters().items() if e.extension}
        fmt = by_ext.get(Path(output).suffix.lower()) if output != "-" else None
        if fmt is None:
            raise click.UsageError("give --format (the extension of -o does not say which)")
    try:
        exporter = get(fmt)
        if output == "-":
            if exporter.is_folder:
                raise click.UsageError(f"--format {fmt} writes a folder: give -o FOLDER")
            with tempfile.TemporaryDirectory(prefix="kgraph-export-") as tmp:
                target = Path(tmp) / f"export{exporter.extension}"
                export_bundle(bundle, fmt, target, base=base or DEFAULT_BASE)
                with open(target, "rb") as fh:
                    shutil.copyfileobj(fh, sys.stdout.buffer)
            return
        written = export_bundle(bundle, fmt, output, base=base or DEFAULT_BASE)
    except UnknownFormat as exc:
        raise click.BadParameter(str(exc), param_hint="--format") from None
    except BundleError as exc:
        raise BundleProblem(str(exc)) from None
    for path in written:
        settings.info(
            f"wrote {path} ({path.stat().st_size:,} bytes)" if path.is_file() else f"wrote {path}"
        )


# --- query (SPARQL over the bundle's store: kgraph.rdf) ----------------------------------------


# --- view (HTML explorer: kgraph.view) ---------------------------------------------------------


# --- serve / push (kgraph.serve, kgraph.push) --------------------------------------------------


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
