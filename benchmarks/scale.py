"""The pipeline at scale: N generated rows end to end, per stage, with peak memory, and TFX's own
CsvExampleGen + StatisticsGen on the same file, side by side in one run.

    .venv/bin/python benchmarks/scale.py [--sizes 100000 1000000 4000000 10000000] [--runs 3]
                                         [--multi-processing 4000000] [--beam-only 1000000 4000000]
                                         [--work DIR] [--no-tfx]

Sizes: 100k, 1M, 4M and 10M rows by default (10M takes about 4 minutes a run on 2 cores). Each
size: a CSV of N rows (6 numeric columns, 4 categorical, a binary label; 11 columns), the
pipeline run as a user runs it (a fresh process: imports included) with 2 epochs, batch size
1024, --runs times each (3; the sizes in alternating order), each figure the median (min-max of
wall and peak shown); the sizes in --multi-processing (4M) also with the Beam stages in SDK worker
processes (--direct_running_mode=multi_processing --direct_num_workers=2), and the sizes in
--beam-only (1M, 4M) also with StatisticsGen and Batching on Beam whatever the size (without it,
StatisticsGen works in this process at any size on an in-process DirectRunner and Batching up to 64
MB of encoded rows: the bounds must not be why a size passes). Prints seconds per stage (from ML
Metadata), the whole run's wall seconds, rows/s, the peak RSS of the run's whole process tree
(summed over all its processes, sampled every 50 ms) and that peak while each stage ran, for the
sizes in --multi-processing one line comparing both modes, and the targets: 1M rows <= 60 s,
time(4M)/time(1M) <= 4.5, peak RSS <= 2.5 GB at 1M and at most 20 % more at 4M; with 10M in
--sizes, time(10M)/time(1M) <= 10.5 and peak RSS <= 1.5 GB at 10M (issue 21); ingestion +
statistics >= 8x faster than TFX's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
STAGES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataGate", "Batching", "Trainer",
          "Evaluator", "Pusher")
# the phases of a run for the peak by stage: the stages as the runner starts them, between imports
# (before the first stage) and after (once the last is done)
PHASES = ("imports", *STAGES[:7], "ServingState", *STAGES[7:], "after")


def generate(rows: int, path: Path, seed: int = 0) -> Path:
    """A CSV of `rows` rows: numeric and categorical features and a label that depends on them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    columns, logit = {}, np.zeros(rows)
    for i in range(6):
        x = rng.normal(size=rows) * (i + 1) + i
        columns[f"num_{i}"] = np.round(x, 4)
        logit += (x - i) / (i + 1) * (0.8 if i % 2 else -0.6)
    for i, size in enumerate((5, 12, 30, 50)):
        codes = rng.integers(0, size, size=rows)
        columns[f"cat_{i}"] = pa.array(np.array([f"c{i}_{k}" for k in range(size)])[codes])
        logit += (codes % 3 - 1) * 0.5
    columns["label"] = (logit + rng.logistic(size=rows) > 0).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    pa_csv.write_csv(pa.table(columns), str(path))
    return path


def measured(command: list[str], env: dict[str, str] | None = None
             ) -> tuple[float, float, subprocess.CompletedProcess, dict[str, float]]:
    """Wall seconds, peak RSS in GB of the command's whole process tree (the sum over the process
    and all its descendants, Beam's SDK workers included, sampled every 50 ms: getrusage's
    ru_maxrss gives only the largest single process), its result, and the peak RSS in GB while
    each stage ran (from the runner's "<stage> started" lines, read as they come; "imports" before
    the first stage, "after" once the last is done)."""
    import threading

    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    peak, done, stage, by_stage = [0], threading.Event(), ["imports"], {}

    def sample() -> None:
        try:
            root = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            return
        while not done.wait(0.05):
            total = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for member in tree:
                try:
                    total += member.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak[0] = max(peak[0], total)
            by_stage[stage[0]] = max(by_stage.get(stage[0], 0), total)

    def follow(lines, kept: list[str]) -> None:  # the runner's "[hh:mm:ss] Stage   started|done in" lines
        for line in lines:
            kept.append(line)
            words = line.split()
            if len(words) >= 3 and words[0].startswith("[") and words[1] in PHASES[1:-1]:
                stage[0] = words[1] if words[2] == "started" else "after"

    out, err = [], []
    readers = [threading.Thread(target=follow, args=(process.stdout, out), daemon=True),
               threading.Thread(target=follow, args=(process.stderr, err), daemon=True)]
    sampler = threading.Thread(target=sample, daemon=True)
    for thread in (sampler, *readers):
        thread.start()
    for thread in readers:
        thread.join()
    process.wait()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    result = subprocess.CompletedProcess(command, process.returncode, "".join(out), "".join(err))
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return wall, peak[0] / 1024**3, result, {name: rss / 1024**3 for name, rss in by_stage.items()}


def stage_seconds(root: Path) -> dict[str, float]:
    from pipelines.runs.metadata import Store
    from pipelines.runs.summary import find_run, node_states

    store = Store(sqlite=str(root / "metadata.sqlite")).connect()
    nodes = node_states(store, find_run(store).id)
    return {name: (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000
            for name, e in nodes.items()}


MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_MEMORY_ENV = "TFX_YAML_IN_MEMORY_BYTES"  # components.common.beam.IN_MEMORY_ENV (not imported: TF-free)


def run_ours(csv: Path, root: Path, beam_args: list[str] | None = None,
             env: dict[str, str] | None = None) -> dict:
    spec = root.parent / f"{root.name}.yaml"
    beam = f", beam_pipeline_args: {json.dumps(beam_args)}" if beam_args else ""
    spec.write_text(f"name: scale\ndata: {{path: {csv}, label: label}}\n"
                    "batching: {batch_size: 1024, eval_batch_size: 8192}\n"
                    f"trainer: {{max_epochs: 2}}\nruntime: {{root: {root}{beam}}}\n", encoding="utf-8")
    wall, peak, _, peaks = measured([sys.executable, str(REPO / "pipelines" / "local_runner.py"),
                                     "--config", str(spec)], env=env)
    return {"wall": wall, "peak": peak, "stages": stage_seconds(root), "peaks": peaks}


TFX_INGEST = """
import sys, time
from tfx.components import CsvExampleGen, StatisticsGen
from tfx.orchestration import metadata, pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
data, root = sys.argv[1], sys.argv[2]
example_gen = CsvExampleGen(input_base=data)
statistics = StatisticsGen(examples=example_gen.outputs["examples"])
started = time.perf_counter()
LocalDagRunner().run(pipeline.Pipeline(
    pipeline_name="tfx-ingest", pipeline_root=root, components=[example_gen, statistics],
    metadata_connection_config=metadata.sqlite_metadata_connection_config(root + "/metadata.sqlite"),
    beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"]))
print("PIPELINE_SECONDS", time.perf_counter() - started)
"""


def run_tfx_ingest(csv: Path, root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    wall, peak, _, _ = measured([sys.executable, "-c", TFX_INGEST, str(csv.parent), str(root)])
    seconds = stage_seconds(root)
    return {"wall": wall, "peak": peak, "stages": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 4_000_000, 10_000_000])
    parser.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-scale-")))
    parser.add_argument("--no-tfx", action="store_true", help="skip TFX's CsvExampleGen + StatisticsGen")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each size; figures are medians (min-max)")
    parser.add_argument("--multi-processing", type=int, nargs="*", default=[4_000_000], metavar="ROWS",
                        help="sizes (of --sizes) also run with Beam's SDK worker processes: "
                        + " ".join(MULTI_PROCESSING))
    parser.add_argument("--beam-only", type=int, nargs="*", default=[1_000_000, 4_000_000], metavar="ROWS",
                        help="sizes (of --sizes) also run with StatisticsGen and Batching on Beam whatever "
                        f"the size ({IN_MEMORY_ENV}=-1)")
    args = parser.parse_args()
    results, every = {}, {}
    csvs = {rows: generate(rows, args.work / f"data-{rows}" / "data.csv") for rows in args.sizes}
    both = [rows for rows in args.sizes if rows in args.multi_processing]
    beam_only = [rows for rows in args.sizes if rows in args.beam_only]
    for i in range(args.runs):  # the sizes in alternating order, a fresh root each run
        for rows in (args.sizes if i % 2 == 0 else list(reversed(args.sizes))):
            modes = ("in_memory",) + (("multi_processing",) if rows in both else ()) + (
                ("beam_only",) if rows in beam_only else ())
            for mode in (modes if i % 2 == 0 else tuple(reversed(modes))):
                key = rows if mode == "in_memory" else (rows, mode)
                every.setdefault(key, []).append(run_ours(
                    csvs[rows], args.work / f"ours-{rows}-{mode}-{i}",
                    MULTI_PROCESSING if mode == "multi_processing" else None,
                    {IN_MEMORY_ENV: "-1"} if mode == "beam_only" else None))
                print(f"done: {rows:,} rows ({mode}) in {every[key][-1]['wall']:.1f} s", file=sys.stderr,
                      flush=True)
    for rows in list(args.sizes) + [(rows, "multi_processing") for rows in both] + [
            (rows, "beam_only") for rows in beam_only]:  # medians per figure
        runs = every[rows]
        results[rows] = {"wall": statistics.median(r["wall"] for r in runs),
                         "peak": statistics.median(r["peak"] for r in runs),
                         "stages": {s: statistics.median(r["stages"].get(s, 0.0) for r in runs)
                                    for s in STAGES},
                         "wall_range": (min(r["wall"] for r in runs), max(r["wall"] for r in runs)),
                         "peak_range": (min(r["peak"] for r in runs), max(r["peak"] for r in runs)),
                         "peaks": {s: statistics.median(r["peaks"].get(s, 0.0) for r in runs)
                                   for s in PHASES}}
    short = {"ExampleGen": "ExGen", "StatisticsGen": "Stats", "SchemaGen": "Schema",
             "ExampleValidator": "Valid", "DataGate": "Gate", "Batching": "Batch", "Trainer": "Train",
             "Evaluator": "Eval", "Pusher": "Push"}
    print(f"{'rows':>14}" + "".join(f"{short[s]:>7}" for s in STAGES)
          + f"{'wall s':>8}{'rows/s':>9}{'peak GB':>9}")
    tags = {"multi_processing": "mp", "beam_only": "beam"}
    label = lambda key: f"{key:,}" if isinstance(key, int) else f"{key[0]:,} {tags[key[1]]}"
    for key, r in results.items():
        rows = key if isinstance(key, int) else key[0]
        print(f"{label(key):>14}" + "".join(f"{r['stages'].get(s, 0):>7.1f}" for s in STAGES)
              + f"{r['wall']:>8.1f}{rows / r['wall']:>9,.0f}{r['peak']:>9.2f}")
    print(f"(medians of {args.runs} runs; stage seconds from ML Metadata; wall = the whole process, imports "
          "included)")
    if both:
        print("(mp: " + " ".join(MULTI_PROCESSING) + ", the Beam stages in SDK worker processes)")
    if beam_only:
        print(f"(beam: {IN_MEMORY_ENV}=-1, StatisticsGen and Batching on Beam whatever the size; without "
              "it StatisticsGen works in this process on an in-process DirectRunner, Batching up to 64 MB of "
              "encoded rows)")
    print("(peak GB: the RSS summed over the run's whole process tree, sampled every 50 ms)")
    for key, r in results.items():
        print(f"{label(key):>14}: wall min-max {r['wall_range'][0]:.1f}-{r['wall_range'][1]:.1f} s, peak "
              f"min-max {r['peak_range'][0]:.2f}-{r['peak_range'][1]:.2f} GB")
    phases = {"imports": "Import", "ServingState": "Serve", "after": "After", **short}
    print("\npeak GB while each stage ran (the whole process tree; Import: before the first stage, "
          "After: once the last is done)")
    print(f"{'rows':>14}" + "".join(f"{phases[s]:>7}" for s in PHASES))
    for key, r in results.items():
        print(f"{label(key):>14}" + "".join(f"{r['peaks'][s]:>7.2f}" if r["peaks"][s] else f"{'-':>7}"
                                            for s in PHASES))  # "-": too short for a sample
    for rows in both:  # issue 21 item 6: the same size in both DirectRunner modes
        one, two = results[rows], results[(rows, "multi_processing")]
        print(f"\n{rows:,} rows, DirectRunner in_memory (1 worker, in this process) against multi_processing "
              f"({' '.join(MULTI_PROCESSING)}): wall {one['wall']:.1f} against {two['wall']:.1f} s "
              f"({two['wall'] / one['wall']:.2f}x), peak {one['peak']:.2f} against {two['peak']:.2f} GB; "
              "stage seconds " + ", ".join(f"{short[s]} {one['stages'][s]:.1f}/{two['stages'][s]:.1f}"
                                           for s in STAGES if max(one['stages'][s], two['stages'][s]) >= 0.5))
    million = results.get(1_000_000)
    if million:
        print(f"\n1M rows end to end: {million['wall']:.1f} s (target <= 60), peak {million['peak']:.2f} GB "
              "(target <= 2.5)")
        if 4_000_000 in results:
            big = results[4_000_000]
            print(f"time(4M)/time(1M): {big['wall'] / million['wall']:.2f} (target <= 4.5); peak RSS 4M/1M: "
                  f"{big['peak'] / million['peak']:.2f} (target <= 1.2)")
        if 10_000_000 in results:
            big = results[10_000_000]
            print(f"time(10M)/time(1M): {big['wall'] / million['wall']:.2f} (target <= 10.5); peak RSS at "
                  f"10M: {big['peak']:.2f} GB (target <= 1.5)")
        if not args.no_tfx:
            tfx = run_tfx_ingest(args.work / "data-1000000" / "data.csv", args.work / "tfx-1000000")
            theirs = tfx["stages"].get("CsvExampleGen", 0) + tfx["stages"].get("StatisticsGen", 0)
            ours = million["stages"]["ExampleGen"] + million["stages"]["StatisticsGen"]
            print(f"ingestion + statistics of 1M rows: ours {million['stages']['ExampleGen']:.1f} + "
                  f"{million['stages']['StatisticsGen']:.1f} s, TFX CsvExampleGen + StatisticsGen "
                  f"{tfx['stages'].get('CsvExampleGen', 0):.1f} + {tfx['stages'].get('StatisticsGen', 0):.1f}"
                  f" s: {theirs / ours:.1f}x faster (target >= 8x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
