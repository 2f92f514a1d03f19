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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from .readers import FORMATS, Problem, ReadLog, ReadResult, read_papers

if TYPE_CHECKING:
    from .progress import Status

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class NothingRead(click.ClickException):
    exit_code = 1


@dataclass
class Settings:
    verbosity: int = 0  #: -1 quiet, 0 normal, 1+ verbose
    #: the status line of a long command, while it is shown: messages go above it
    status: Status | None = None

    def echo(self, line: str) -> None:
        """Print ``line`` on stderr (above the status line, if one is shown)."""
        if self.status is not None:
            self.status.echo(line)
        else:
            click.echo(line, err=True)

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self.echo(f"kgraph: {message}")

    def detail(self, message: str) -> None:
        if self.verbosity >= 1:
            self.echo(f"kgraph: {message}")

    @contextmanager
    def steps(self) -> Iterator[Status]:
        """A status line saying which step a long command is at (:class:`~kgraph.progress.
        Status`: on a terminal, unless quiet), shown while the block runs; the messages
        printed meanwhile go above it."""
        from .progress import Status

        status = Status(quiet=self.verbosity < 0)
        self.status = status
        try:
            with status:
                yield status
        finally:
            self.status = None

    def quieter(self, quiet: bool) -> Settings:
        """These settings, or quiet ones when the command's own ``--quiet`` was given."""
        return Settings(verbosity=-1) if quiet else self

    def problem(self, problem: Problem) -> None:
        if problem.skipped or self.verbosity >= 0:
            level = "error" if problem.skipped else "warning"
            self.echo(f"kgraph: {level}: {problem}")


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
jobs_option = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1),
    default=None,
    help="Extraction worker processes [default: every core].",
)
quiet_option = click.option(
    "-q", "--quiet", "cmd_quiet", is_flag=True, help="Only errors: no summaries or progress."
)
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
    settings: Settings,
    inputs: Sequence[str],
    input_format: str,
    model: bool = True,
    jobs: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Extract's JSONL rows, streamed in input order (``jobs`` worker processes)."""
    from .engines import EngineOptions, extract_stream
    from .progress import bar

    result = read_inputs(settings, inputs, input_format)
    n_entities = n_papers = 0
    options = EngineOptions(jobs=jobs, model=model)
    with bar(len(result.papers), "extracting", quiet=settings.verbosity < 0) as tick:
        for ext in extract_stream(result.papers, options):
            row = ext.to_dict()
            entities = [{k: v for k, v in e.items() if k != "kb_id"} for e in row["entities"]]
            for e in entities:
                e["mentions"] = [
                    {k: v for k, v in m.items() if k != "sentence"} for m in e["mentions"]
                ]
            n_entities += len(entities)
            n_papers += 1
            tick.update(1)
            yield {"id": row["id"], "title": row["title"], "entities": entities}
    settings.info(f"extracted {n_entities:,} entities from {n_papers:,} papers")


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
@jobs_option
@quiet_option
@click.pass_obj
@with_example(
    "  kgraph extract graphs/pages/*.txt > entities.jsonl\n"
    "  kgraph extract papers.jsonl.gz | jq '.entities[] | select(.relation == \"proposes\")'"
)
def extract(
    settings: Settings,
    inputs: tuple[str, ...],
    fmt: str,
    input_format: str,
    no_model: bool,
    jobs: int | None,
    cmd_quiet: bool,
) -> None:
    """Extract methods, datasets, benchmarks, metrics, tasks and code URLs per paper.

    Prints one JSON object per distinct paper: {"id", "title", "entities": [{"name",
    "type", "relation", "aliases", "confidence", "mentions": [{"start", "end", "text",
    "source"}]}]}. Offsets index into the title, a blank line, then the abstract.
    """
    settings = settings.quieter(cmd_quiet)
    rows = _extraction_rows(settings, inputs, input_format, model=not no_model, jobs=jobs)
    for row in rows:
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
@jobs_option
@quiet_option
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
    jobs: int | None,
    cmd_quiet: bool,
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
    settings = settings.quieter(cmd_quiet)
    rows = list(_extraction_rows(settings, inputs, input_format, model=not no_model, jobs=jobs))
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
@click.option(
    "--model/--no-model",
    "model",
    default=None,
    help="With the learned span tagger, or rules only (faster, fewer candidates) "
    "[default: as the bundle's papers were extracted; the model for a new bundle]. "
    "Another choice than the bundle's extracts every paper again.",
)
@jobs_option
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where extraction runs: worker processes here, or a Dask cluster (kgraph[dask]).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler address (tcp://host:8786); default: a local Dask cluster of --jobs.",
)
@quiet_option
@click.pass_obj
@with_example(
    "  kgraph build graphs/pages/*.txt -o out/graph\n"
    "  kgraph build new-page.txt -o out/graph     # adds only the papers not yet in it\n"
    "  kgraph build arxiv-2024.jsonl.gz -o out/arxiv --jobs 8 --no-model\n"
    "  kgraph build arxiv-*.jsonl.gz -o out/arxiv --engine dask --scheduler tcp://head:8786"
)
def build_(
    settings: Settings,
    inputs: tuple[str, ...],
    out_dir: str,
    re_extract: bool,
    input_format: str,
    model: bool | None,
    jobs: int | None,
    engine: str,
    scheduler: str | None,
    cmd_quiet: bool,
) -> None:
    """Read, extract and resolve INPUT... into a graph bundle folder.

    The folder holds graph.json (networkx node-link JSON, see schemas/graph.schema.json),
    papers.jsonl, extractions.jsonl, manifest.json (versions, input hashes, counts) and the
    default exports. Inputs already in the bundle (same SHA-256) are skipped; only papers
    new to the bundle are extracted, the way its papers were (--model or --no-model), and
    only what they can change is resolved and written again. Building again with the same
    inputs changes nothing.
    """
    from .bundle import BuildReport, BundleError, build
    from .engines import EngineError, EngineOptions
    from .progress import bar

    settings = settings.quieter(cmd_quiet)
    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler needs --engine dask")
    options = EngineOptions(engine=engine, jobs=jobs, scheduler=scheduler, model=model)
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
        settings.detail(
            f"extracting {_plural(total, 'paper')} ({engine} engine, "
            f"{_plural(options.workers, 'worker')})"
        )
        if settings.status is not None:
            settings.status.hide()  # (the bar takes its place until the next step)
        return bar(total, "extracting", quiet=settings.verbosity < 0)

    fmt = None if input_format in (None, "auto") else input_format
    try:
        with settings.steps() as status:
            report = build(
                out_dir,
                inputs,
                fmt=fmt,
                log=log,
                progress=progress,
                re_extract=re_extract,
                on_read=on_read,
                engine=options,
                on_step=status.step,
            )
    except BundleError as exc:
        raise BundleProblem(str(exc)) from None
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    counts = report.counts
    if report.re_extract_all and report.extracted:
        why = f" ({report.re_extract_why})" if report.re_extract_why else ""
        settings.info(f"extracted all {_plural(report.extracted, 'paper')} again{why}")
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
    settings.detail(
        "time by phase: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.phases.items())
    )
    settings.detail(
        "peak memory after phase: "
        + ", ".join(f"{k} {v:,.0f} MiB" for k, v in report.peak_mb.items())
    )
    grown = report.resolution
    if "grown" in grown:
        settings.detail(
            f"resolution: grown from the bundle's state, {grown['grown']:,} of "
            f"{grown['of']:,} per-paper entities resolved (the new papers' that join no known "
            "entity, and those of the entities the change can reach); "
            f"{grown.get('joined', 0):,} of the new papers' joined known entities without "
            "resolving them again"
        )
    elif grown:
        settings.detail(f"resolution: in full ({grown['full']})")
    made = report.graph
    if "kept" in made:
        settings.detail(
            f"graph: the part of {made['of'] - made['kept']:,} of {made['of']:,} papers made; "
            "the others' taken from the bundle's graph.json (the same record, extraction and "
            "entities as at the last build)"
            + (
                f"; their edges held with their relation only, the evidence read back for "
                f"{n:,} of them (graph.html and the RDF made again)"
                if (n := made.get("evidence_read")) is not None
                else ""
            )
        )
    elif made:
        settings.detail(f"graph: every paper's part made ({made['full']})")
    rdf = report.rdf
    if "kept" in rdf:
        settings.detail(
            f"rdf: the statements of {rdf['of'] - rdf['kept']:,} of {rdf['of']:,} papers and "
            f"{rdf['entities_of'] - rdf['entities_kept']:,} of {rdf['entities_of']:,} entities "
            "made"
            + (
                f" ({n - rdf['list_nodes_kept']:,} of the {n:,} nodes of their short lists)"
                if (n := rdf.get("list_nodes_of")) is not None
                else ""
            )
            + "; the others' kept in the store and copied in graph.ttl (unchanged since the "
            "last build"
            + (f"; {n:,} stretches" if (n := rdf.get("stretches")) is not None else "")
            + ")"
        )
    elif rdf:
        settings.detail(f"rdf: every paper's statements made ({rdf['full']})")
    how = report.store
    if how.get("loaded") == "updated in place":
        share = (
            f"{how['papers_kept']:,} papers' graphs and {how.get('entities_kept', 0):,} "
            "entities' statements kept as they were"
            if "papers_kept" in how
            else f"{how['changed_share']:.1%} of the quads' bytes"
        )
        settings.detail(
            f"store: updated in place in {how['seconds']:.1f} s: {how['units_changed']:,} units "
            f"changed and {how['units_removed']:,} removed ({share}), "
            f"{how['quads_removed']:,} quads removed and "
            f"{how['quads_added']:,} added"
            + (f" (the changed read from {read})" if (read := how.get("compared_with")) else "")
            + (", then compacted" if how.get("compacted") else "")
        )
    elif how.get("update_failed"):
        settings.detail(f"store: loaded whole (the update in place failed: {how['update_failed']})")
    elif how.get("update_skipped"):
        settings.detail(f"store: loaded whole ({how['update_skipped']})")
    elif how:
        settings.detail("store: loaded whole")
    if report.store_early:
        settings.detail(
            "(the phases up to the worker's exit ran in a copy of this process, their peak "
            "the copy's; once it had made the quads, this process updated the store while "
            "the copy wrote graph.html and ended)"
        )
    elif report.isolated:
        settings.detail(
            "(the phases up to the worker's exit ran in a copy of this process, which gave "
            "its memory back before the store's load: their peak is the copy's)"
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
        with settings.steps() as status:
            status.step("counting graph.json")  # (10 s at 160k papers)
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
        f"{f['pipeline'] or 'pipeline not recorded'}, updated {f['updated']})",
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
    from .rdf.namespaces import InvalidBase

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
                with settings.steps() as status:
                    export_bundle(
                        bundle, fmt, target, base=base or DEFAULT_BASE, on_step=status.step
                    )
                with open(target, "rb") as fh:
                    shutil.copyfileobj(fh, sys.stdout.buffer)
            return
        with settings.steps() as status:
            written = export_bundle(
                bundle, fmt, output, base=base or DEFAULT_BASE, on_step=status.step
            )
    except UnknownFormat as exc:
        raise click.BadParameter(str(exc), param_hint="--format") from None
    except BundleError as exc:
        raise BundleProblem(str(exc)) from None
    except InvalidBase as exc:
        raise click.BadParameter(str(exc), param_hint="--base") from None
    except OSError as exc:  # the target cannot be written (a folder in the way, disk full...)
        raise click.ClickException(str(exc)) from None
    for path in written:
        settings.info(
            f"wrote {path} ({path.stat().st_size:,} bytes)" if path.is_file() else f"wrote {path}"
        )


# --- query (SPARQL over the bundle's store: kgraph.rdf) ----------------------------------------


class QueryProblem(click.ClickException):
    """A query that cannot run (syntax error, update, bad parameter): one line, exit 2."""

    exit_code = 2


def _list_canned() -> str:
    from .rdf.queries import canned_queries

    lines = []
    for name, q in canned_queries().items():
        lines.append(f"{name}\n    {q.description}")
        for p in q.params:
            default = "required" if p.default is None else f"default {p.default!r}"
            lines.append(f"    --param {p.name}=...  {p.description} ({p.kind}, {default})")
    return "\n".join(lines)


@cli.command("query", context_settings=CONTEXT)
@click.argument("bundle", metavar="DIR", type=click.Path())
@click.argument("query", metavar="[QUERY|@FILE.rq]", required=False)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "tsv", "json", "xml"]),
    default="table",
    show_default=True,
    help="SELECT/ASK output: aligned table, CSV/TSV, SPARQL 1.1 JSON or XML results. "
    "CONSTRUCT/DESCRIBE always print Turtle.",
)
@click.option("--list", "list_", is_flag=True, help="List the canned queries and their parameters.")
@click.option("-n", "--name", metavar="NAME", help="Run the canned query NAME (see --list).")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="K=V",
    help="A parameter of the canned query (repeat for several).",
)
@click.option(
    "--base",
    default=None,
    metavar="IRI",
    help="Base of the data IRIs (the store is rebuilt if it was built with another base).",
)
@click.pass_obj
@with_example(
    "  kgraph query out/graph --list\n"
    "  kgraph query out/graph --name methods-on-dataset --param dataset=ImageNet\n"
    "  kgraph query out/graph 'SELECT ?p ?t WHERE { ?p kg:proposes ?m ; dcterms:title ?t } "
    "LIMIT 5'\n"
    "  kgraph query out/graph @question.rq --format csv > answer.csv"
)
def query_(
    settings: Settings,
    bundle: str,
    query: str | None,
    fmt: str,
    list_: bool,
    name: str | None,
    params: tuple[str, ...],
    base: str | None,
) -> None:
    """Ask the graph bundle DIR a SPARQL question: a query given inline or from @FILE.rq,
    or one of the canned questions (--list, --name NAME --param K=V).

    Queries run read-only on the bundle's embedded Oxigraph store (DIR/store/, built from
    graph.json on first use and rebuilt when the graph changes) over the union of its named
    graphs; the prefixes kg:, schema:, dcterms:, skos:, prov:, fabio:, rdf:, rdfs:, xsd:,
    owl: and paper:, method:, dataset:, benchmark:, metric:, task: are predeclared.
    """
    from .bundle import BundleError
    from .rdf.namespaces import InvalidBase
    from .rdf.queries import (
        QueryError,
        format_result,
        get_canned,
        parse_params,
        run_query,
    )
    from .rdf.store import StoreError, open_store, store_info

    if list_:
        if query or name:
            raise click.UsageError("--list takes no QUERY or --name")
        click.echo(_list_canned())
        return
    if (query is None) == (name is None):
        raise click.UsageError("give a QUERY (or @FILE.rq), or --name NAME (see --list)")
    if params and name is None:
        raise click.UsageError("--param goes with --name")
    try:
        if name is not None:
            text = get_canned(name).render(parse_params(params))
        else:
            assert query is not None
            text = _query_text(query)
        with settings.steps() as status:
            store = open_store(bundle, base=base, on_step=status.step)
            info = store_info(bundle) or {}
            status.step("running the query")
            result = run_query(store, text, info.get("base"))
            out = format_result(result, fmt, info.get("base") or base or _default_base())
    except QueryError as exc:
        raise QueryProblem(str(exc)) from None
    except (BundleError, StoreError) as exc:
        raise BundleProblem(str(exc)) from None
    except InvalidBase as exc:
        raise click.BadParameter(str(exc), param_hint="--base") from None
    sys.stdout.buffer.write(out)
    sys.stdout.flush()


def _default_base() -> str:
    from .exporters import DEFAULT_BASE

    return DEFAULT_BASE


def _query_text(query: str) -> str:
    """The query itself, or the text of the file when given as @FILE (``@-``: stdin)."""
    if not query.startswith("@"):
        return query
    path = query[1:]
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise click.BadParameter(f"cannot read {path}: {reason}", param_hint="QUERY") from None


# --- view (HTML explorer: kgraph.view) ---------------------------------------------------------


class NotInGraph(click.ClickException):
    exit_code = 2


@cli.command("view", context_settings=CONTEXT)
@click.argument("bundle", metavar="DIR", type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="The HTML file to write (one self-contained page, works offline); - for stdout.",
)
@click.option(
    "--focus",
    metavar="NAME",
    help="Ego view: only what is within --depth steps of this node (id, name, alias or title).",
)
@click.option(
    "--depth",
    type=click.IntRange(0),
    default=None,
    help="Steps from --focus (paper -> entity is one step).  [default: 1]",
)
@click.option(
    "--types",
    multiple=True,
    metavar="TYPE,...",
    help="Only these node types: paper, method, dataset, benchmark, metric, task, "
    "repository, result (repeat or separate with commas).",
)
@click.option(
    "--min-papers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Only entities named by at least K papers.",
)
@click.option(
    "--max-nodes",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="Above this, keep the most-connected entities and their papers (the page says what "
    "was left out).",
)
@click.option("--title", default="kgraph", show_default=True, help="The page title.")
@click.pass_obj
@with_example(
    "  kgraph view out/graph -o graph.html\n"
    "  kgraph view out/graph -o dpo.html --focus DPO --depth 2\n"
    "  kgraph view out/graph -o data.html --types paper,dataset,benchmark --min-papers 2"
)
def view_(
    settings: Settings,
    bundle: str,
    output: str,
    focus: str | None,
    depth: int | None,
    types: tuple[str, ...],
    min_papers: int,
    max_nodes: int,
    title: str,
) -> None:
    """Write an interactive HTML explorer of the graph bundle DIR: colour and shape by type,
    size by number of papers, tooltips with the paper and the evidence sentence, search by
    name or alias, type filters, click to highlight a neighbourhood.

    The page needs no network (vis-network is inlined). Positions are computed here, so
    graphs of thousands of nodes draw at once.
    """
    from .bundle import BundleError, graph_file
    from .graphfile import GraphFileError
    from .io import atomic_write_bytes
    from .view import NoSuchNode, parse_types, render_selection, select
    from .view.source import fill, read_for_view

    if depth is not None and focus is None:
        raise click.UsageError("--depth needs --focus")
    try:
        wanted = parse_types(types) if types else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--types") from None
    try:
        with settings.steps() as status:
            # what the selection needs first, then the rest of what it keeps
            # (kgraph.view.source)
            status.step("reading graph.json")
            _, source = graph_file(bundle)
            graph = read_for_view(source)
            status.step("choosing what to draw")
            try:
                selection = select(
                    graph,
                    focus=focus,
                    depth=1 if depth is None else depth,
                    types=wanted,
                    min_papers=min_papers,
                    max_nodes=max_nodes,
                )
            except NoSuchNode as exc:
                raise NotInGraph(str(exc)) from None
            status.step("reading what is drawn")
            fill(graph, source, selection)
            status.step("laying out the page")
            page = render_selection(graph, selection, title=title).encode("utf-8")
    except (BundleError, GraphFileError) as exc:
        raise BundleProblem(str(exc)) from None
    if output == "-":
        sys.stdout.buffer.write(page)
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(output, page)
    for note in selection.notes:
        settings.detail(note)
    left = sum(selection.left_out.values())
    settings.info(
        f"drew {_plural(len(selection.nodes), 'node')} and {_plural(len(selection.edges), 'edge')}"
        f" of {selection.graph_nodes:,} nodes and {selection.graph_edges:,} edges "
        f"(left out {_plural(left, 'node')}, {_plural(selection.edges_left_out, 'edge')} "
        f"not drawn) -> {output} ({len(page):,} bytes)"
    )


# --- serve / push (kgraph.serve, kgraph.push) --------------------------------------------------


@cli.command("serve", context_settings=CONTEXT)
@click.argument("bundle", metavar="DIR", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one.",
)
@click.option(
    "--base",
    default=None,
    metavar="IRI",
    help="Base of the data IRIs, e.g. http://127.0.0.1:8000/id/ so they resolve here "
    "(default: the store's, https://w3id.org/kgraph/id/).",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a query may run; a longer one is stopped with an error.",
)
@click.option(
    "--max-rows",
    default=10_000,
    show_default=True,
    type=click.IntRange(1),
    help="Rows (SELECT) or triples (CONSTRUCT) a query may return; more is an error.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Query worker processes (queries answered at once).",
)
@click.pass_obj
@with_example(
    "  kgraph serve graphs/seeds            # http://127.0.0.1:8000/ (explorer), /sparql\n"
    "  curl -H 'Accept: text/csv' 'http://127.0.0.1:8000/sparql' \\\n"
    "       --data-urlencode 'query=SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }'\n"
    "  kgraph serve graphs/seeds --port 8080 --base http://127.0.0.1:8080/id/"
)
def serve_(
    settings: Settings,
    bundle: str,
    host: str,
    port: int,
    base: str | None,
    timeout: float,
    max_rows: int,
    workers: int,
) -> None:
    """Serve the bundle DIR over HTTP until Ctrl-C: a read-only SPARQL 1.1 endpoint at
    /sparql (GET and POST; JSON, XML, CSV, TSV results, Turtle or JSON-LD graphs, by Accept
    or format=), a Linked Data page for every paper and entity IRI (HTML for browsers,
    Turtle or JSON-LD otherwise; under /id/ and the base's path) and the explorer at /.

    Safe by default: binds to loopback, refuses SPARQL Update, stops a query after
    --timeout seconds and refuses results over --max-rows, escapes everything it shows.
    """
    from .serve import ServeError, serve_bundle
    from .serve.server import KgraphServer, is_loopback

    if not is_loopback(host):
        click.echo(
            f"kgraph: warning: --host {host} is not loopback: anyone who can reach this "
            "machine can query the bundle",
            err=True,
        )

    try:
        # (the status line while the store is made; gone once the server is ready)
        with settings.steps() as status:

            def ready(server: KgraphServer) -> None:
                status.close()
                settings.info(
                    f"serving {bundle} at {server.url} (SPARQL: {server.url}sparql); Ctrl-C stops"
                )

            serve_bundle(
                bundle,
                host=host,
                port=port,
                base=base,
                timeout=timeout,
                max_rows=max_rows,
                workers=workers,
                log=settings.detail if settings.verbosity >= 1 else None,
                on_ready=ready,
                on_step=status.step,
            )
    except ServeError as exc:
        raise BundleProblem(str(exc)) from None
    settings.info("stopped")


@cli.command("push", context_settings=CONTEXT)
@click.argument("bundle", metavar="DIR", type=click.Path())
@click.option(
    "--endpoint",
    required=True,
    metavar="URL",
    help="The store's SPARQL 1.1 Graph Store endpoint, e.g. "
    "http://localhost:8890/sparql-graph-crud-auth (Virtuoso), "
    "http://localhost:3030/ds/data (Fuseki).",
)
@click.option(
    "--graph",
    "target",
    default=None,
    metavar="IRI",
    help="Push everything into this one named graph (default: one graph per paper, plus "
    "the entities graph).",
)
@click.option("--user", default=None, help="User name for the endpoint.")
@click.option(
    "--password",
    default=None,
    envvar="KGRAPH_PASSWORD",
    help="Password (or the KGRAPH_PASSWORD environment variable; asked for if --user is "
    "given without one on a terminal).",
)
@click.option(
    "--auth",
    type=click.Choice(["auto", "basic", "digest"]),
    default="auto",
    show_default=True,
    help="HTTP authentication; auto uses what the endpoint asks for.",
)
@click.option("--base", default=None, metavar="IRI", help="Base of the data IRIs (as for export).")
@click.option(
    "--workers",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight at once.",
)
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Seconds to wait for each request.",
)
@click.pass_obj
@with_example(
    "  kgraph push out/graph --endpoint http://localhost:8890/sparql-graph-crud-auth "
    "--user dba --password dba\n"
    "  kgraph push out/graph --endpoint http://localhost:3030/kg/data --graph "
    "https://example.org/kg"
)
def push_(
    settings: Settings,
    bundle: str,
    endpoint: str,
    target: str | None,
    user: str | None,
    password: str | None,
    auth: str,
    base: str | None,
    workers: int,
    timeout: float,
) -> None:
    """Load the bundle DIR into a triple store over the SPARQL 1.1 Graph Store HTTP
    Protocol: one PUT per named graph (each paper's graph, the entities graph), which
    replaces the graph, so pushing again updates the store instead of duplicating it.
    """
    from .bundle import BundleError
    from .exporters import DEFAULT_BASE
    from .push import PushError, push_bundle

    if user is not None and password is None:
        if not sys.stdin.isatty():
            raise click.UsageError("--user needs --password (or KGRAPH_PASSWORD)")
        password = click.prompt(f"password for {user}", hide_input=True, err=True)

    def progress(total: int | None) -> Any:
        from .progress import bar

        unit = "graph" if target is None else "triple"
        return bar(total, "pushing", quiet=settings.verbosity < 0, unit=unit)

    try:
        report = push_bundle(
            bundle,
            endpoint,
            graph=target,
            base=base or DEFAULT_BASE,
            user=user,
            password=password,
            auth=auth,
            workers=workers,
            timeout=timeout,
            progress=progress,
        )
    except BundleError as exc:
        raise BundleProblem(str(exc)) from None
    except PushError as exc:
        raise BundleProblem(str(exc)) from None
    where = f"graph <{target}>" if target else _plural(report.graphs, "graph")
    retried = f", {report.retries:,} retried" if report.retries else ""
    rate = report.triples / report.seconds if report.seconds else 0.0
    per_graph = "" if target else f"{report.graphs_per_second:,.0f} graphs/s, "
    settings.info(
        f"pushed {report.triples:,} triples in {where} to {endpoint} "
        f"({report.requests:,} requests{retried}, {report.bytes / 1e6:.1f} MB, "
        f"{report.seconds:.1f} s: {per_graph}{rate:,.0f} triples/s)"
    )


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
