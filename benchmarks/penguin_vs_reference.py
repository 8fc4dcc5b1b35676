"""Side by side, in one run: this project's penguin pipeline against TFX's own penguin example.

    .venv/bin/python benchmarks/penguin_vs_reference.py [--reference ../shared/reference] [--work DIR]
                                                        [--runs 3]

Runs each pipeline cold and then again unchanged (the cached re-run), each as a fresh process as a
user would, and the same model as a bare Keras script (benchmarks/bare_keras_penguin.py), and
prints wall seconds (process start to exit, imports included), the pipeline's own seconds, eval
accuracy, what was pushed, and the ratios against the targets: cold <= 0.25 x the reference and
<= 2 x the bare Keras script, re-run <= 0.25 x the reference's re-run and nothing pushed again,
accuracy >= the reference's. Each figure is the median of --runs (3) with min and max; the runs
alternate which goes first. Our re-run's pipeline figure is measured: the runner's "finished in"
line, or, when nothing changed and nothing ran, the whole process (the check is all it did); a run
whose output has neither stops the benchmark instead of counting 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started, result


def reference_run(reference: Path, root: Path) -> dict:
    wall, result = timed([sys.executable, str(reference / "tfx_penguin_reference.py"),
                          "--data", str(reference / "data" / "penguins_processed.csv"), "--root", str(root)])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"wall": wall, "pipeline": report["pipeline_seconds"], "accuracy": report["accuracy"],
            "pushed": report["pushed_versions"]}


def our_run(root: Path) -> dict:
    wall, result = timed([sys.executable, str(REPO / "pipelines" / "local_runner.py"), "--root", str(root)])
    out = result.stdout
    serving = root / "serving"
    finished = re.search(r"finished in ([\d.]+)s", out)
    if finished:
        pipeline = float(finished.group(1))
    elif re.search(r"^pipeline .*: nothing changed since run ", out, re.MULTILINE):
        pipeline = wall  # nothing ran: the run was the check that nothing changed, the whole process
    else:  # never a 0 for a figure that was not measured
        sys.exit(f"no 'finished in' line and no 'nothing changed' line in the run's output:\n{out[-3000:]}")
    return {"wall": wall, "pipeline": pipeline,
            "accuracy": float(re.search(r"accuracy=([\d.]+)", out).group(1)),
            "pushed": sorted(n for n in os.listdir(serving) if n.isdigit()) if serving.is_dir() else [],
            "pushed_this_run": bool(finished) and re.search(r"^pushed: ", out, re.MULTILINE) is not None}


def keras_run() -> dict:
    wall, result = timed([sys.executable, str(REPO / "benchmarks" / "bare_keras_penguin.py")])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"wall": wall, "pipeline": report["seconds"], "accuracy": report["accuracy"], "pushed": []}


def spread(values: list[float]) -> str:
    """median [min-max]"""
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    parser.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-penguin-")))
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each; figures are medians with min and max")
    args = parser.parse_args()
    names = ("reference cold", "reference re-run", "ours cold", "ours re-run", "bare Keras script")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for i in range(args.runs):  # alternating which goes first
        def reference(i=i):
            runs["reference cold"].append(reference_run(args.reference, args.work / f"reference-{i}"))
            runs["reference re-run"].append(reference_run(args.reference, args.work / f"reference-{i}"))

        def ours(i=i):
            runs["ours cold"].append(our_run(args.work / f"ours-{i}"))
            runs["ours re-run"].append(our_run(args.work / f"ours-{i}"))

        def bare():
            runs["bare Keras script"].append(keras_run())

        for step in ((reference, ours, bare) if i % 2 == 0 else (bare, ours, reference)):
            step()
        print(f"done: run {i + 1} of {args.runs}", file=sys.stderr, flush=True)
    med = {name: {key: statistics.median(r[key] for r in runs[name]) for key in ("wall", "pipeline")}
           for name in names}
    print(f"{args.runs} runs of each, alternating order; median [min-max]; wall = the whole process; "
          "pipeline = the runner's own figure (ours re-run: nothing ran, so the whole process)")
    print(f"{'run':<18}{'wall s':>18}{'pipeline s':>18}{'accuracy':>10}  pushed versions (last run)")
    for name in names:
        r = runs[name]
        print(f"{name:<18}{spread([x['wall'] for x in r]):>18}{spread([x['pipeline'] for x in r]):>18}"
              f"{statistics.median(x['accuracy'] or 0 for x in r):>10.4f}  {r[-1]['pushed']}")

    def ratio(a: str, b: str, key: str) -> str:
        pairs = [x[key] / y[key] for x, y in zip(runs[a], runs[b])]
        return f"{med[a][key] / med[b][key]:.2f} [{min(pairs):.2f}-{max(pairs):.2f}]"

    print("\nratios of the medians [per-run min-max] (ours / reference), wall | pipeline:")
    print(f"  cold:   {ratio('ours cold', 'reference cold', 'wall')} | "
          f"{ratio('ours cold', 'reference cold', 'pipeline')}   (target <= 0.25)")
    print(f"  re-run: {ratio('ours re-run', 'reference re-run', 'wall')} | "
          f"{ratio('ours re-run', 'reference re-run', 'pipeline')}   (target <= 0.25)")
    print(f"ours cold / the bare Keras script, wall: {ratio('ours cold', 'bare Keras script', 'wall')}   "
          "(target <= 2.0)")
    ours_accuracy = statistics.median(x["accuracy"] for x in runs["ours cold"])
    reference_accuracy = statistics.median(x["accuracy"] or 0 for x in runs["reference cold"])
    print(f"  accuracy: ours {ours_accuracy:.4f} vs reference {reference_accuracy:.4f}")
    reference_again = any(r["pushed"] != c["pushed"]
                          for r, c in zip(runs["reference re-run"], runs["reference cold"]))
    print(f"  re-run pushed again: ours {any(x['pushed_this_run'] for x in runs['ours re-run'])}, "
          f"reference {reference_again}")


if __name__ == "__main__":
    main()
