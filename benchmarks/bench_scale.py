"""Scale: `kgraph build` of 10k, 50k and ~160k papers of ../shared/corpus/, then incremental
adds of 1,000 new papers to the largest bundle, one after the other.

    python benchmarks/bench_scale.py [--sizes 10000,50000,160000] [--jobs N] [--add 1000]
                                     [--adds 2] [--no-model] [--work /tmp/kgraph-scale]

Each build runs the real command line (`kgraph build INPUT -o DIR -v`) in a fresh process and
is measured from outside: wall time, peak RSS of the main process, the peak memory of the
whole process tree (the sum of every process's PSS, sampled each second: the extraction
workers, the forked writer's copied pages and the Turtle writer count too), bundle and store
size on disk,
triples in the store, how the store was made (loaded whole or updated in place), how the
entities were resolved (grown from the bundle's state, or in full and why), and kgraph's
own time by phase. The last `--add` x `--adds` records of the corpus are kept out of the builds
and added at the end, so the adds are new papers but for the few records that repeat a
paper of the corpus (the first add updates a store loaded whole, the second one updated in
place). Prints one table;
the cost per paper across sizes shows whether cost grows linearly with the work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from contextlib import ExitStack
from pathlib import Path

from _common import corpus_records

ROOT = Path(__file__).resolve().parent.parent


def folder_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


class TreeMemory:
    """Samples the memory of a process and all its descendants once a second: the peak of
    the sum of their PSS (shared pages split between the processes sharing them, so the
    pages a forked child shares with its parent are counted once)."""

    def __init__(self, pid: int, every: float = 1.0) -> None:
        self.pid, self.every, self.peak_mb = pid, every, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        return tree

    @staticmethod
    def _pss_kb(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def _run(self) -> None:
        while not self._done.wait(self.every):
            total = sum(self._pss_kb(pid) for pid in self._tree())
            self.peak_mb = max(self.peak_mb, total / 1024)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak_mb


def run_build(inputs: list[Path], out: Path, jobs: int, model: bool) -> dict[str, object]:
    cmd = [sys.executable, "-m", "kgraph", "-v", "build", *map(str, inputs), "-o", str(out)]
    cmd += ["--jobs", str(jobs)] + ([] if model else ["--no-model"])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = TreeMemory(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    tree_mb = tree.stop()
    wall = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"build failed:\n{err}")
    phases = {}
    match = re.search(r"time by phase: (.*)", err)
    if match:
        for part in match.group(1).split(", "):
            name, secs, _ = part.rsplit(" ", 2)
            phases[name] = float(secs)
    memory = {}
    match = re.search(r"peak memory after phase: (.*)", err)
    if match:
        for part in match.group(1).split(", "):
            name, mb, _ = part.rsplit(" ", 2)
            memory[name] = float(mb.replace(",", ""))
    match = re.search(r"resolution: (.*)", err)
    resolution = match.group(1) if match else ""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    marker = out / "store" / "kgraph-store.json"
    store = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    return {
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "peak_tree_mb": tree_mb,
        "papers": manifest["counts"]["papers"],
        "entities": manifest["counts"]["entities"],
        "edges": manifest["counts"]["edges"],
        "triples": store.get("triples"),
        "bundle_mb": folder_mb(out),
        "store_mb": folder_mb(out / "store"),
        "store": {k: store[k] for k in ("loaded", "update", "update_failed") if k in store},
        "phases": phases,
        "memory": memory,
        "resolution": resolution,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,50000,160000")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--add", type=int, default=1000)
    ap.add_argument(
        "--adds", type=int, default=2, help="adds of --add papers one after the other"
    )
    ap.add_argument("--no-model", action="store_true")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kgraph-scale"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)

    # The corpus files are written streaming, in one pass, so this process stays small: a
    # process started from it inherits its peak memory as its own (Linux keeps ru_maxrss
    # across exec), which once showed as 900 MiB "read" phases that were this script's list
    # of records. The last `--add` records are held back until the end, for the add.
    held = args.add * args.adds
    add_files = [args.work / f"add-{args.add}-{i + 1}.jsonl" for i in range(args.adds)]
    sources = {n: args.work / f"corpus-{n}.jsonl" for n in sizes}
    last: deque[str] = deque()
    total = 0
    with ExitStack() as stack:
        outs = [
            (n, stack.enter_context(path.open("w", encoding="utf-8")))
            for n, path in sources.items()
        ]
        for record in corpus_records():
            total += 1
            last.append(json.dumps(record) + "\n")
            if len(last) <= held:
                continue
            line, base_index = last.popleft(), total - held - 1
            for n, fh in outs:
                if base_index < n:
                    fh.write(line)
    held_back = list(last)
    for i, path in enumerate(add_files):
        part = held_back[i * args.add : (i + 1) * args.add]
        path.write_text("".join(part), encoding="utf-8")
    clamped = [min(n, total - held) for n in sizes]
    for n, m in zip(sizes, clamped, strict=True):  # asked for more than the corpus has
        if m != n:
            sources[n].replace(args.work / f"corpus-{m}.jsonl")
    sources = {m: args.work / f"corpus-{m}.jsonl" for m in clamped}
    sizes = clamped
    print(
        f"corpus: {total:,} records with title and abstract; "
        f"{held:,} kept for {args.adds} incremental adds of {args.add:,}"
    )

    rows = []
    for n in sizes:
        out = args.work / f"bundle-{n}"
        shutil.rmtree(out, ignore_errors=True)
        print(f"building {n:,} papers ...", flush=True)
        rows.append((f"build {n:,}", n, run_build([sources[n]], out, args.jobs, not args.no_model)))
    largest = args.work / f"bundle-{sizes[-1]}"
    for i, path in enumerate(add_files):
        print(f"adding {args.add:,} papers to {largest.name} ...", flush=True)
        name = f"add {args.add:,}" + (f" #{i + 1}" if args.adds > 1 else "")
        rows.append((name, args.add, run_build([path], largest, args.jobs, not args.no_model)))

    print(f"\njobs: {args.jobs}; pipeline: {'rules' if args.no_model else 'rules + model'}")
    head = (
        f"{'run':<14} {'wall s':>8} {'ms/paper':>9} {'peak RSS MiB':>12} {'all procs MiB':>13} "
        f"{'papers':>8} "
        f"{'entities':>9} {'edges':>10} {'triples':>11} {'bundle MB':>10} {'store MB':>9}"
    )
    print(head)
    for name, n, r in rows:
        triples = f"{r['triples']:,}" if r["triples"] else "-"
        print(
            f"{name:<14} {r['wall_s']:>8.1f} {1000 * r['wall_s'] / n:>9.2f} "
            f"{r['peak_rss_mb']:>12,.0f} {r['peak_tree_mb']:>13,.0f} {r['papers']:>8,} "
            f"{r['entities']:>9,} "
            f"{r['edges']:>10,} {triples:>11} {r['bundle_mb']:>10,.0f} {r['store_mb']:>9,.0f}"
        )
    print("\ntime by phase (s):")
    for name, _, r in rows:
        print(f"  {name:<14} " + ", ".join(f"{k} {v:.1f}" for k, v in r["phases"].items()))
    print("\nthe resolution:")
    for name, _, r in rows:
        print(f"  {name:<14} {r['resolution']}")
    print("\nthe store:")
    for name, _, r in rows:
        print(f"  {name:<14} {r['store']}")
    print("\npeak RSS when each phase ended (MiB):")
    for name, _, r in rows:
        print(f"  {name:<14} " + ", ".join(f"{k} {v:,.0f}" for k, v in r["memory"].items()))


if __name__ == "__main__":
    main()
