"""Neo4j exports: bulk-import CSVs for ``neo4j-admin database import`` and a LOAD CSV script.

``kgraph export DIR --format neo4j -o OUT/`` writes (``OUT`` is created if missing; files of
the same names are replaced, every other file in it is left alone)::

    OUT/papers.csv          (:Paper)    paperId:ID(Paper), title, abstract, published, ...
    OUT/entities.csv        (:Entity:Method|Dataset|Benchmark|Metric|Task|Repository)
    OUT/results.csv         (:Result)   value:double, unit, resultType, sentence, ...
    OUT/proposes.csv        (:Paper)-[:PROPOSES]->(:Entity), evidence properties; likewise
    OUT/introduces.csv, code.csv, uses_method.csv, uses_dataset.csv, uses_benchmark.csv,
    OUT/uses_metric.csv, addresses.csv
    OUT/reports.csv         (:Paper)-[:REPORTS]->(:Result)
    OUT/evaluated_on.csv    (:Entity)-[:EVALUATED_ON {paper}]->(:Entity), one per paper
    OUT/co_occurs.csv       (:Entity)-[:CO_OCCURS {count, papers}]->(:Entity)
    OUT/result_method.csv   (:Result)-[:OF_METHOD]->(:Entity); result_dataset.csv ON_DATASET,
                            result_metric.csv OF_METRIC (a result's method, dataset, metric)
    OUT/import.sh           the neo4j-admin database import full command for these files
    OUT/schema.cypher       constraints (unique ids) and indexes
    OUT/load.cypher         schema.cypher, then LOAD CSV of every file in batches
    OUT/README.txt          this layout, the counts and how to load

Headers follow the neo4j-admin conventions: ``paperId:ID(Paper)``, ``:LABEL``,
``:START_ID(Paper)``, ``:END_ID(Entity)``, ``:TYPE``, typed columns (``upvotes:int``,
``confidence:double``, ``publishedDate:date``, ``authors:string[]``); an empty field is a
missing property. Ids are the bundle's without the kind prefix (``2310.06825``,
``method/direct-preference-optimization``, ``2310.06825/1``). Arrays are joined by the array
delimiter: ``;`` (Neo4j's default) unless a list value holds one, then ``|``, else U+001F; the
command and the script say which. CSV is RFC 4180 (CRLF rows, fields with commas, quotes or
line breaks quoted, quotes doubled); ``--multiline-fields=true`` is added to the command when
a field holds a line break. ``confidence`` is a ``double``: neo4j-admin's ``float`` is 32-bit
and would turn 0.7 into 0.699999988.

``--format cypher`` writes ``load.cypher`` alone (the CSVs already in Neo4j's import folder).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import networkx as nx

from ..graph import CO_OCCURS, EVALUATED_ON, PAPER_RELATIONS, REPORTS
from ..records import ENTITY_TYPES
from . import ExportOptions
from ._files import atomic_text, close_synced, open_staged, staged_files

__all__ = [
    "NODE_TABLES",
    "REL_TABLES",
    "DelimiterClash",
    "NodeTable",
    "Prop",
    "RelTable",
    "array_delimiter",
    "cypher_script",
    "write_cypher",
    "write_neo4j",
]

#: array delimiters, in order of preference (the first that no list value holds)
DELIMITERS: Final = (";", "|", "\x1f")
DEFAULT_BATCH: Final = 1000
DEFAULT_CSV_BASE: Final = "file:///"

Getter = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Prop:
    """A property column: its name, its neo4j-admin type and how to get it from the attributes."""

    name: str
    type: str  #: string, int, double, boolean, date, string[], int[]
    get: Getter

    @property
    def header(self) -> str:
        return self.name if self.type == "string" else f"{self.name}:{self.type}"


@dataclass(frozen=True)
class NodeTable:
    """A node CSV: id column ``<id_name>:ID(<label>)``, ``:LABEL``, then the properties."""

    file: str
    kind: str  #: the bundle's node kind (paper, entity, result)
    label: str  #: the label every node gets, also the id space
    id_name: str
    props: tuple[Prop, ...]
    labels: Callable[[Mapping[str, Any]], list[str]] | None = None  #: more labels per node

    @property
    def headers(self) -> list[str]:
        return [f"{self.id_name}:ID({self.label})", ":LABEL", *(p.header for p in self.props)]


@dataclass(frozen=True)
class RelTable:
    """A relationship CSV: ``:START_ID(space)``, ``:END_ID(space)``, ``:TYPE``, properties."""

    file: str
    type: str  #: relationship type, e.g. PROPOSES
    start: str  #: id space (node label) of the start node
    end: str
    props: tuple[Prop, ...] = ()
    merge_on: tuple[str, ...] = ()  #: properties telling parallel relationships apart

    @property
    def headers(self) -> list[str]:
        return [
            f":START_ID({self.start})",
            f":END_ID({self.end})",
            ":TYPE",
            *(p.header for p in self.props),
        ]


# --- the tables ---------------------------------------------------------------------------------

_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _get(name: str) -> Getter:
    return lambda d: d.get(name)


def _local(node_id: Any) -> Any:
    """A node id without its kind prefix: ``paper:2310.06825`` -> ``2310.06825``."""
    if isinstance(node_id, str):
        return node_id.partition(":")[2] or node_id
    return node_id


def _local_of(name: str) -> Getter:
    return lambda d: _local(d.get(name))


def _local_list(name: str) -> Getter:
    def get(d: Mapping[str, Any]) -> Any:
        value = d.get(name)
        return [_local(v) for v in value] if isinstance(value, list) else value

    return get


def _iso_date(d: Mapping[str, Any]) -> Any:
    value = d.get("published")
    return value if isinstance(value, str) and _ISO_DATE.match(value) else None


def _aliases(d: Mapping[str, Any]) -> list[tuple[str, int]]:
    aliases = d.get("aliases") or {}
    return sorted(aliases.items(), key=lambda kv: (-kv[1], kv[0]))


def _json_of(name: str) -> Getter:
    def get(d: Mapping[str, Any]) -> Any:
        value = d.get(name)
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    return get


def _span_part(i: int) -> Getter:
    def get(d: Mapping[str, Any]) -> Any:
        spans = d.get("spans")
        return [s[i] for s in spans] if isinstance(spans, list) else None

    return get


def type_label(entity_type: str) -> str:
    """The Neo4j label of an entity type: ``method`` -> ``Method``."""
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", entity_type) if part)


PAPERS: Final = NodeTable(
    "papers.csv",
    "paper",
    "Paper",
    "paperId",
    (
        Prop("title", "string", _get("title")),
        Prop("abstract", "string", _get("abstract")),
        Prop("published", "string", _get("published")),
        Prop("publishedDate", "date", _iso_date),
        Prop("authors", "string[]", _get("authors")),
        Prop("authorsCount", "int", _get("authors_count")),
        Prop("organization", "string", _get("organization")),
        Prop("upvotes", "int", _get("upvotes")),
        Prop("arxivId", "string", _get("arxiv_id")),
        Prop("urls", "string[]", _get("urls")),
        Prop("sources", "string[]", _get("sources")),
    ),
)
ENTITIES: Final = NodeTable(
    "entities.csv",
    "entity",
    "Entity",
    "entityId",
    (
        Prop("name", "string", _get("name")),
        Prop("type", "string", _get("type")),
        Prop("kbId", "string", _get("kb_id")),
        Prop("aliases", "string[]", lambda d: [k for k, _ in _aliases(d)]),
        Prop("aliasCounts", "int[]", lambda d: [v for _, v in _aliases(d)]),
        Prop("shortForms", "string[]", _get("short_forms")),
        Prop("typeVotes", "string", _json_of("type_votes")),
        Prop("papers", "int", _get("papers")),
        Prop("mentions", "int", _get("mentions")),
    ),
    labels=lambda d: [type_label(str(d["type"]))] if d.get("type") else [],
)
RESULTS: Final = NodeTable(
    "results.csv",
    "result",
    "Result",
    "resultId",
    (
        Prop("paperId", "string", _local_of("paper")),
        Prop("value", "double", _get("value")),
        Prop("unit", "string", _get("unit")),
        Prop("resultType", "string", _get("result_type")),
        Prop("text", "string", _get("text")),
        Prop("sentence", "string", _get("sentence")),
        Prop("start", "int", _get("start")),
        Prop("end", "int", _get("end")),
        Prop("methodName", "string", _get("method_name")),
        Prop("datasetName", "string", _get("dataset_name")),
        Prop("metricName", "string", _get("metric_name")),
    ),
)
NODE_TABLES: Final = (PAPERS, ENTITIES, RESULTS)

_EVIDENCE: Final = (
    Prop("confidence", "double", _get("confidence")),
    Prop("mentions", "int", _get("mentions")),
    Prop("text", "string", _get("text")),
    Prop("sentence", "string", _get("sentence")),
    Prop("start", "int", _get("start")),
    Prop("end", "int", _get("end")),
    Prop("component", "string", _get("component")),
    Prop("spanStarts", "int[]", _span_part(0)),
    Prop("spanEnds", "int[]", _span_part(1)),
)

#: relationship CSVs written from the bundle's edges, by relation
EDGE_TABLES: Final[dict[str, RelTable]] = {
    **{r: RelTable(f"{r}.csv", r.upper(), "Paper", "Entity", _EVIDENCE) for r in PAPER_RELATIONS},
    REPORTS: RelTable("reports.csv", "REPORTS", "Paper", "Result"),
    EVALUATED_ON: RelTable(
        "evaluated_on.csv",
        "EVALUATED_ON",
        "Entity",
        "Entity",
        (
            Prop("paper", "string", _local_of("paper")),
            Prop("confidence", "double", _get("confidence")),
            Prop("results", "int", _get("results")),
        ),
        merge_on=("paper",),
    ),
    CO_OCCURS: RelTable(
        "co_occurs.csv",
        "CO_OCCURS",
        "Entity",
        "Entity",
        (
            Prop("count", "int", _get("count")),
            Prop("papers", "string[]", _local_list("papers")),
        ),
    ),
}
#: relationship CSVs written from a result node's method, dataset and metric attributes
RESULT_LINKS: Final[dict[str, RelTable]] = {
    "method": RelTable("result_method.csv", "OF_METHOD", "Result", "Entity"),
    "dataset": RelTable("result_dataset.csv", "ON_DATASET", "Result", "Entity"),
    "metric": RelTable("result_metric.csv", "OF_METRIC", "Result", "Entity"),
}
REL_TABLES: Final = (*EDGE_TABLES.values(), *RESULT_LINKS.values())
_ID_NAME: Final = {t.label: t.id_name for t in NODE_TABLES}


# --- what the data asks for -------------------------------------------------------------------


class DelimiterClash(ValueError):
    """A list value holds the array delimiter being written."""


def _tables_with_data(
    graph: nx.MultiDiGraph, *, edges: bool = True
) -> Iterator[tuple[NodeTable | RelTable, Mapping[str, Any]]]:
    """Every node (and edge) with the table it is written to (result links left out)."""
    node_tables = {t.kind: t for t in NODE_TABLES}
    for _, data in graph.nodes(data=True):
        table = node_tables.get(data.get("kind", ""))
        if table is not None:
            yield table, data
    if not edges:
        return
    for _, _, data in graph.edges(data=True):
        rel = EDGE_TABLES.get(data.get("relation", ""))
        if rel is not None:
            yield rel, data


def array_delimiter(graph: nx.MultiDiGraph, *, edges: bool = True) -> str:
    """The first of ``; | U+001F`` that no array value written for ``graph`` holds.

    ``edges=False`` looks at the nodes only (their names, authors and URLs are where a ``;``
    turns up; edge arrays hold ids and offsets): a cheap first guess.
    """
    found: set[str] = set()
    tables: list[NodeTable | RelTable] = [*NODE_TABLES, *REL_TABLES]
    arrays = {t.file: [p.get for p in t.props if p.type.endswith("[]")] for t in tables}
    for table, data in _tables_with_data(graph, edges=edges):
        for get in arrays[table.file]:
            value = get(data)
            if value:
                text = "\x00".join(map(str, value))
                found.update(c for c in DELIMITERS if c in text)
        if len(found) == len(DELIMITERS):
            raise DelimiterClash("every array delimiter (; | U+001F) occurs in a list value")
    return next(c for c in DELIMITERS if c not in found)


def _entity_labels(graph: nx.MultiDiGraph) -> list[str]:
    found = {
        type_label(str(d["type"]))
        for _, d in graph.nodes(data=True)
        if d.get("kind") == "entity" and d.get("type")
    }
    known = [type_label(t) for t in ENTITY_TYPES]
    return [t for t in known if t in found] + sorted(found - set(known))


@dataclass(frozen=True)
class Plan:
    """What the files depend on besides the graph: delimiter, labels, where and how to load."""

    delimiter: str
    entity_labels: tuple[str, ...]
    csv_base: str = DEFAULT_CSV_BASE
    batch: int = DEFAULT_BATCH


def _plan(graph: nx.MultiDiGraph, options: ExportOptions, delimiter: str) -> Plan:
    batch = int(options.extra.get("batch_size", DEFAULT_BATCH))
    if batch < 1:
        raise ValueError("batch_size must be at least 1")
    csv_base = str(options.extra.get("csv_base", DEFAULT_CSV_BASE))
    return Plan(delimiter, tuple(_entity_labels(graph)), csv_base, batch)


# --- CSV ----------------------------------------------------------------------------------------

Cell = Callable[[Mapping[str, Any]], Any]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _cell(prop: Prop, delimiter: str) -> Cell:
    """The CSV field of ``prop`` (``None``, an empty field, for a missing value or list)."""
    get = prop.get
    if prop.type.endswith("[]"):

        def array(data: Mapping[str, Any]) -> Any:
            value = get(data)
            if not value:
                return None
            try:
                text = delimiter.join(value)
            except TypeError:
                text = delimiter.join(map(_scalar, value))
            if text.count(delimiter) != len(value) - 1:
                raise DelimiterClash(delimiter)
            return text

        return array
    if prop.type in ("double", "float", "boolean"):

        def scalar(data: Mapping[str, Any]) -> Any:
            value = get(data)
            return None if value is None else _scalar(value)

        return scalar
    return get


class _Counting:
    """A text file that counts line breaks and backslash-quotes written (see README.txt)."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.breaks = 0
        self.backslash_quotes = 0

    def write(self, text: str) -> int:
        self.breaks += text.count("\n") + text.count("\r")
        if "\\" in text:
            self.backslash_quotes += text.count('\\"')
        return self.fh.write(text)


class _CsvFile:
    """One CSV being written: its writer, its row count, whether a field spans lines."""

    def __init__(self, folder: Path, file: str, headers: list[str]) -> None:
        self.path = folder / file
        self.fh = open_staged(self.path, newline="")
        self.out = _Counting(self.fh)
        self.writer = csv.writer(self.out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self.writer.writerow(headers)
        self.rows = 0

    @property
    def multiline(self) -> bool:
        """Whether a field holds a line break (every row ends with exactly one CR LF)."""
        return self.out.breaks != 2 * (self.rows + 1)

    def close(self) -> None:
        if not self.fh.closed:
            close_synced(self.fh)


def _write_csvs(graph: nx.MultiDiGraph, folder: Path, plan: Plan) -> dict[str, _CsvFile]:
    d = plan.delimiter
    files: dict[str, _CsvFile] = {}
    try:
        tables: list[NodeTable | RelTable] = [*NODE_TABLES, *REL_TABLES]
        for t in tables:
            files[t.file] = _CsvFile(folder, t.file, t.headers)
        local = {node: _local(node) for node in graph}
        node_tables = {
            t.kind: (t, files[t.file], [_cell(p, d) for p in t.props]) for t in NODE_TABLES
        }
        links = [(attr, link.type, files[link.file]) for attr, link in RESULT_LINKS.items()]
        for node, data in graph.nodes(data=True):
            found = node_tables.get(data.get("kind", ""))
            if found is None:
                continue
            table, out, cells = found
            labels = table.label
            if table.labels is not None:
                labels = d.join([labels, *table.labels(data)])
            out.writer.writerow([local[node], labels, *[cell(data) for cell in cells]])
            out.rows += 1
            if table is RESULTS:
                for attr, rel_type, link_out in links:
                    other = data.get(attr)
                    if other in local:
                        link_out.writer.writerow([local[node], local[other], rel_type])
                        link_out.rows += 1
        rel_tables = {
            r: (t.type, files[t.file], [_cell(p, d) for p in t.props])
            for r, t in EDGE_TABLES.items()
        }
        for source, target, data in graph.edges(data=True):
            found_rel = rel_tables.get(data.get("relation", ""))
            if found_rel is None:
                continue
            rel_type, out, cells = found_rel
            out.writer.writerow([local[source], local[target], rel_type, *[c(data) for c in cells]])
            out.rows += 1
    finally:
        for f in files.values():
            f.close()
    return files


# --- Cypher -------------------------------------------------------------------------------------


def cypher_string(text: str) -> str:
    """``text`` as a single-quoted Cypher string literal."""
    out = []
    for ch in text:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


_RESERVED: Final = frozenset(
    [  # Cypher keywords that may not be a bare property key
        "all",
        "and",
        "as",
        "asc",
        "ascending",
        "by",
        "case",
        "constraint",
        "contains",
        "create",
        "delete",
        "desc",
        "descending",
        "detach",
        "distinct",
        "do",
        "drop",
        "else",
        "end",
        "ends",
        "exists",
        "false",
        "for",
        "in",
        "is",
        "limit",
        "mandatory",
        "match",
        "merge",
        "not",
        "null",
        "of",
        "on",
        "optional",
        "or",
        "order",
        "remove",
        "require",
        "return",
        "scalar",
        "set",
        "skip",
        "start",
        "starts",
        "then",
        "true",
        "union",
        "unique",
        "unwind",
        "when",
        "where",
        "with",
        "xor",
    ]
)


def _key(name: str) -> str:
    """A property key in Cypher, in backticks when it is a reserved word (``end``)."""
    return f"`{name}`" if name.lower() in _RESERVED else name


def _column(header: str) -> str:
    return f"row.`{header}`"


def _expr(prop: Prop, delimiter: str) -> str:
    col = _column(prop.header)
    d = cypher_string(delimiter)
    return {
        "string": col,
        "int": f"toInteger({col})",
        "double": f"toFloat({col})",
        "boolean": f"toBoolean({col})",
        "date": f"date({col})",
        "string[]": f"split({col}, {d})",
        "int[]": f"[x IN split({col}, {d}) | toInteger(x)]",
        "double[]": f"[x IN split({col}, {d}) | toFloat(x)]",
    }[prop.type]


def _set_lines(var: str, props: Iterable[Prop], delimiter: str, skip: Iterable[str] = ()) -> str:
    skipped = set(skip)
    sets = [f"{var}.{_key(p.name)} = {_expr(p, delimiter)}" for p in props if p.name not in skipped]
    return ("  SET " + ",\n      ".join(sets) + "\n") if sets else ""


def schema_cypher() -> str:
    """Constraints (a unique id per node label) and indexes, idempotent (IF NOT EXISTS)."""
    lines = ["// kgraph: constraints and indexes (Neo4j 5); safe to run again", ""]
    for t in NODE_TABLES:
        lines.append(
            f"CREATE CONSTRAINT {t.label.lower()}_{t.id_name} IF NOT EXISTS "
            f"FOR (n:{t.label}) REQUIRE n.{t.id_name} IS UNIQUE;"
        )
    indexes = [
        ("entity_name", "(n:Entity)", "n.name"),
        ("entity_type", "(n:Entity)", "n.type"),
        ("paper_arxivId", "(n:Paper)", "n.arxivId"),
        ("result_paperId", "(n:Result)", "n.paperId"),
        ("evaluated_on_paper", "()-[n:EVALUATED_ON]-()", "n.paper"),
    ]
    for name, pattern, prop in indexes:
        lines.append(f"CREATE INDEX {name} IF NOT EXISTS FOR {pattern} ON ({prop});")
    lines += ["CALL db.awaitIndexes(300);", ""]
    return "\n".join(lines)


def _node_load(table: NodeTable, plan: Plan) -> str:
    d = plan.delimiter
    text = (
        f"// {table.file}: (:{table.label})\n"
        f"LOAD CSV WITH HEADERS FROM {cypher_string(plan.csv_base + table.file)} AS row\n"
        "CALL {\n  WITH row\n"
        f"  MERGE (n:{table.label} {{{table.id_name}: {_column(table.headers[0])}}})\n"
        f"{_set_lines('n', table.props, d)}"
    )
    if table.labels is not None:
        labels = f"split({_column(':LABEL')}, {cypher_string(d)})"
        for label in plan.entity_labels:
            text += (
                f"  FOREACH (_ IN CASE WHEN {cypher_string(label)} IN {labels} "
                f"THEN [1] ELSE [] END | SET n:{label})\n"
            )
    return text + f"}} IN TRANSACTIONS OF {plan.batch} ROWS;\n"


def _rel_load(table: RelTable, plan: Plan) -> str:
    headers = table.headers
    merge = ""
    if table.merge_on:
        keyed = [p for p in table.props if p.name in table.merge_on]
        merge = " {" + ", ".join(f"{_key(p.name)}: {_expr(p, plan.delimiter)}" for p in keyed) + "}"
    return (
        f"// {table.file}: (:{table.start})-[:{table.type}]->(:{table.end})\n"
        f"LOAD CSV WITH HEADERS FROM {cypher_string(plan.csv_base + table.file)} AS row\n"
        "CALL {\n  WITH row\n"
        f"  MATCH (a:{table.start} {{{_ID_NAME[table.start]}: {_column(headers[0])}}})\n"
        f"  MATCH (b:{table.end} {{{_ID_NAME[table.end]}: {_column(headers[1])}}})\n"
        f"  MERGE (a)-[r:{table.type}{merge}]->(b)\n"
        f"{_set_lines('r', table.props, plan.delimiter, table.merge_on)}"
        f"}} IN TRANSACTIONS OF {plan.batch} ROWS;\n"
    )


def cypher_script(plan: Plan) -> str:
    """``load.cypher``: the schema, then LOAD CSV of every CSV (nodes first), in batches."""
    head = (
        "// kgraph: load the CSVs of `kgraph export --format neo4j` into Neo4j 5 with LOAD CSV.\n"
        "// Put the CSV files in the DBMS import folder (server.directories.import), then run\n"
        "//   cypher-shell -u neo4j -p PASSWORD -f load.cypher\n"
        "// (in Neo4j Browser, prefix each LOAD CSV with :auto). MERGE on the unique ids makes\n"
        "// running it again safe. Array delimiter: "
        f"{cypher_string(plan.delimiter)}. For a large graph into an empty database,\n"
        "// `sh import.sh` (neo4j-admin database import) is much faster.\n"
        '// The CSVs are RFC 4180: if a text holds a backslash before a quote (G\\"odel), set\n'
        "// dbms.import.csv.legacy_quote_escaping=false, or LOAD CSV misreads that row.\n\n"
    )
    parts = [head, schema_cypher(), ""]
    parts += [_node_load(t, plan) for t in NODE_TABLES]
    parts += [_rel_load(t, plan) for t in REL_TABLES]
    return "\n".join(parts)


# --- neo4j-admin ---------------------------------------------------------------------------------


def _delimiter_option(delimiter: str) -> str:
    if delimiter in (";", "|"):
        return f"'{delimiter}'"
    return f"U+{ord(delimiter):04X}"


def import_command(plan: Plan, multiline: bool) -> list[str]:
    """The arguments of ``neo4j-admin database import full`` (without the database name)."""
    args = ["neo4j-admin", "database", "import", "full"]
    args += [f"--nodes={t.file}" for t in NODE_TABLES]
    args += [f"--relationships={t.file}" for t in REL_TABLES]
    args.append(f"--array-delimiter={_delimiter_option(plan.delimiter)}")
    if multiline:
        args.append("--multiline-fields=true")
    return args


def import_script(plan: Plan, multiline: bool) -> str:
    args = import_command(plan, multiline)
    lines = "".join(f"  {a} \\\n" for a in args[4:])
    return (
        "#!/bin/sh\n"
        "# kgraph: import the CSVs of this folder into a new Neo4j 5 database with neo4j-admin.\n"
        "# The DBMS must be stopped (or the database absent). Usage:\n"
        "#   sh import.sh [DATABASE [MORE neo4j-admin OPTIONS...]]   (default database: neo4j)\n"
        "#   e.g. sh import.sh neo4j --overwrite-destination=true\n"
        "# Set NEO4J_ADMIN to the neo4j-admin program if it is not on PATH. Then create the\n"
        "# constraints and indexes: cypher-shell -f schema.cypher\n"
        "set -e\n"
        'cd "$(dirname "$0")"\n'
        'database="${1:-neo4j}"\n'
        "if [ $# -gt 0 ]; then shift; fi\n"
        '"${NEO4J_ADMIN:-neo4j-admin}" database import full \\\n'
        f"{lines}"
        '  "$@" "$database"\n'
    )


def _readme(plan: Plan, files: Mapping[str, _CsvFile], multiline: bool) -> str:
    def header(t: NodeTable | RelTable) -> str:
        return ",".join(t.headers)

    quotes = sum(f.out.backslash_quotes for f in files.values())

    lines = [
        "kgraph export for Neo4j 5",
        "=========================",
        "",
        "Node files (one row per node; the id column is unique within its id space):",
    ]
    for t in NODE_TABLES:
        labels = f"{t.label}:<Type>" if t.labels else t.label
        lines.append(f"  {t.file:<20} {files[t.file].rows:>9,}  (:{labels})  {header(t)}")
    lines += ["", "Relationship files (one relationship type per file):"]
    for r in REL_TABLES:
        lines.append(
            f"  {r.file:<20} {files[r.file].rows:>9,}  (:{r.start})-[:{r.type}]->(:{r.end})"
            + (f"  + {', '.join(p.header for p in r.props)}" if r.props else "")
        )
    delim = {";": "';'", "|": "'|'"}.get(plan.delimiter, "U+001F (unit separator)")
    lines += [
        "",
        f"Array delimiter: {delim} (arrays and the :LABEL column).",
        "CSV: RFC 4180, UTF-8, CRLF rows; fields holding commas, quotes or line breaks are quoted,",
        "quotes doubled." + (" Some fields hold line breaks." if multiline else ""),
        "An empty field is a missing property. Ids are the bundle's without the kind prefix.",
        "",
        "Load them either way:",
        "  1. Bulk import into a new database (fast; the DBMS stopped):",
        "       sh import.sh [DATABASE]     then   cypher-shell -f schema.cypher",
        "     (the exact neo4j-admin database import full command is in import.sh)",
        "  2. Into a running DBMS: copy the CSV files into its import folder, then",
        "       cypher-shell -f load.cypher",
        "     (constraints and indexes first, then LOAD CSV ... CALL { ... } IN TRANSACTIONS",
        f"     OF {plan.batch} ROWS, MERGE on the ids so a second run changes nothing).",
        "",
        "LOAD CSV reads a backslash before a quote as an escaped quote unless the setting",
        "dbms.import.csv.legacy_quote_escaping is false; neo4j-admin import reads RFC 4180",
        'as written. Set it to false if a text holds \\" (LaTeX accents such as G\\"odel):',
        f"{quotes:,} {'field holds' if quotes == 1 else 'fields hold'} one here.",
        "",
        "Example queries:",
        "  MATCH (p:Paper)-[:USES_DATASET|INTRODUCES]->(d:Dataset)",
        "  RETURN d.name, count(p) AS papers ORDER BY papers DESC LIMIT 10;",
        "  MATCH (m:Method)-[e:EVALUATED_ON]->(d) RETURN m.name, d.name, e.paper LIMIT 25;",
        "",
    ]
    return "\n".join(lines)


def write_neo4j(graph: nx.MultiDiGraph, target: Path, options: ExportOptions) -> list[Path]:
    """Write the Neo4j import folder ``target`` (see the module docstring); the files written.

    ``options.extra``: ``csv_base`` (where load.cypher reads the CSVs, default ``file:///``),
    ``batch_size`` (rows per transaction in load.cypher, default 1000).
    """
    # the first delimiter no list value holds: guessed from the nodes, checked while writing
    first = DELIMITERS.index(array_delimiter(graph, edges=False))
    for delimiter in DELIMITERS[first:]:
        plan = _plan(graph, options, delimiter)
        try:
            return _write_folder(graph, target, plan)
        except DelimiterClash:
            continue
    raise DelimiterClash("every array delimiter (; | U+001F) occurs in a list value")


def _write_folder(graph: nx.MultiDiGraph, target: Path, plan: Plan) -> list[Path]:
    with staged_files(target) as stage:
        files = _write_csvs(graph, stage, plan)
        multiline = any(f.multiline for f in files.values())
        texts = {
            "load.cypher": cypher_script(plan),
            "schema.cypher": schema_cypher(),
            "import.sh": import_script(plan, multiline),
            "README.txt": _readme(plan, files, multiline),
        }
        for name, text in texts.items():
            fh = open_staged(stage / name, newline="\n")
            fh.write(text)
            close_synced(fh)
        (stage / "import.sh").chmod(0o755)
        names = [*files, *texts]
    return [target / name for name in names]


def write_cypher(graph: nx.MultiDiGraph, target: Path, options: ExportOptions) -> list[Path]:
    """Write ``load.cypher`` alone to ``target``: for CSVs already in Neo4j's import folder."""
    plan = _plan(graph, options, array_delimiter(graph))
    with atomic_text(target, newline="\n") as fh:
        fh.write(cypher_script(plan))
    return [target]
