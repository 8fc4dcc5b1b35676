"""Side by side, in one run: this project's penguin pipeline against TFX's own penguin example.

    .venv/bin/python benchmarks/penguin_vs_reference.py [--reference ../shared/reference] [--work DIR]

Runs each pipeline cold and then again unchanged (the cached re-run), each as a fresh process as a
user would, and the same model as a bare Keras script (benchmarks/bare_keras_penguin.py), and
prints wall seconds (process start to exit, imports included), the pipeline's own seconds, eval
accuracy, what was pushed, and the ratios against the targets: cold <= 0.25 x the reference and
<= 2 x the bare Keras script, re-run <= 0.25 x the reference's re-run and nothing pushed again,
accuracy >= the reference's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
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
    finished = re.search(r"finished in ([\d.]+)s", out)  # absent when nothing changed: nothing ran
    return {"wall": wall, "pipeline": float(finished.group(1)) if finished else 0.0,
            "accuracy": float(re.search(r"accuracy=([\d.]+)", out).group(1)),
            "pushed": sorted(n for n in os.listdir(serving) if n.isdigit()) if serving.is_dir() else [],
            "pushed_this_run": bool(finished) and re.search(r"^pushed: ", out, re.MULTILINE) is not None}


def keras_run() -> dict:
    wall, result = timed([sys.executable, str(REPO / "benchmarks" / "bare_keras_penguin.py")])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"wall": wall, "pipeline": report["seconds"], "accuracy": report["accuracy"], "pushed": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    parser.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-penguin-")))
    args = parser.parse_args()
    ref_cold = reference_run(args.reference, args.work / "reference")
    ref_rerun = reference_run(args.reference, args.work / "reference")
    ours_cold = our_run(args.work / "ours")
    ours_rerun = our_run(args.work / "ours")
    bare = keras_run()
    rows = [("reference cold", ref_cold), ("reference re-run", ref_rerun), ("ours cold", ours_cold),
            ("ours re-run", ours_rerun), ("bare Keras script", bare)]
    print(f"{'run':<18}{'wall s':>8}{'pipeline s':>12}{'accuracy':>10}  pushed versions")
    for name, r in rows:
        print(f"{name:<18}{r['wall']:>8.1f}{r['pipeline']:>12.1f}{r['accuracy'] or 0:>10.4f}  {r['pushed']}")
    print("\nratios (ours / reference), wall | pipeline:")
    print(f"  cold:   {ours_cold['wall'] / ref_cold['wall']:.2f} | "
          f"{ours_cold['pipeline'] / ref_cold['pipeline']:.2f}   (target <= 0.25)")
    print(f"  re-run: {ours_rerun['wall'] / ref_rerun['wall']:.2f} | "
          f"{ours_rerun['pipeline'] / ref_rerun['pipeline']:.2f}   (target <= 0.25)")
    print(f"ours cold / the bare Keras script, wall: {ours_cold['wall'] / bare['wall']:.2f}   (target <= 2.0)")
    print(f"  accuracy: ours {ours_cold['accuracy']:.4f} vs reference {ref_cold['accuracy'] or 0:.4f}")
    print(f"  re-run pushed again: ours {ours_rerun['pushed_this_run']}, "
          f"reference {ref_rerun['pushed'] != ref_cold['pushed']}")


if __name__ == "__main__":
    main()
