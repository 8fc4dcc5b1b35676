"""Batch predictions at scale: `tfx-yaml predict` on N generated rows against the same
SavedModel's signature called on the same serialized examples held in memory.

    .venv/bin/python benchmarks/predict.py [--sizes 1000000 4000000] [--train-rows 20000] [--work DIR]

A model is trained and pushed once by the pipeline on --train-rows rows of scale.py's generator
(11 columns: 6 numeric, 4 categorical, a binary label; 2 epochs). Then for each size, a CSV of
that many rows from the same generator (another seed) is scored by `tfx-yaml predict` in a fresh
process as a user runs it (imports, Beam, TFDV's drift statistics, the Parquet output included),
with its wall seconds and the peak RSS of its whole process tree; and, in another fresh process,
the same rows are encoded to serialized tf.Examples in memory (not timed) and the version's
`serving_default` is called on them in chunks of 8,192 (timed: the bare signature's seconds).

Targets (issue 30): predict <= 1.5 x the bare signature's seconds at 1M rows, and peak RSS flat
from 1M to 4M rows (at most 20 % more). Both ratios are printed: predict's own seconds (from its
"predicted N rows in S s" line: after the imports, as the bare signature's timing is) and its
process's wall seconds (imports included). The load average is printed with each size: the two
are measured side by side, one after the other, so both see the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.scale import generate, measured

BARE = """
import json, sys, time
import numpy as np, pyarrow.csv as pa_csv, pyarrow as pa, tensorflow as tf
from components.example_gen import wire
from pipelines.predictions import _Model
model = _Model.of(sys.argv[2])
table = pa_csv.read_csv(sys.argv[1], convert_options=pa_csv.ConvertOptions(
    column_types={n: pa.string() for n in model.kinds}, strings_can_be_null=True, null_values=[""]))
names = [n for n in table.column_names if n in model.kinds]
records = wire.record_list(wire.serialize_examples(names, [model.kinds[n] for n in names],
                                                   [table[n].combine_chunks() for n in names]))
del table
serve = tf.saved_model.load(sys.argv[2]).signatures["serving_default"]
serve(examples=tf.constant(records[:8192]))  # traced once, as RunInference's first call is
started = time.perf_counter()
for i in range(0, len(records), 8192):
    serve(examples=tf.constant(records[i:i + 8192]))["probabilities"].numpy()
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(records)}))
"""


def train(work: Path, rows: int) -> tuple[Path, Path]:
    """A pushed version trained by the pipeline on `rows` rows; (spec, root)."""
    data = generate(rows, work / "train" / "train.csv", seed=0)
    root = work / "root"
    spec = work / "predict.yaml"
    spec.write_text(f"name: predict_bench\ndata: {{path: {data.parent}, label: label}}\n"
                    "batching: {batch_size: 1024}\ntrainer: {max_epochs: 2}\n"
                    f"runtime: {{root: {root}}}\n", encoding="utf-8")
    measured([sys.executable, str(REPO / "pipelines" / "local_runner.py"), "--config", str(spec)])
    return spec, root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--work")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="predict-bench-"))
    spec, root = train(work, args.train_rows)
    version = next(p for p in sorted((root / "serving").iterdir()) if p.name.isdigit())
    results = {}
    for size in args.sizes:
        data = generate(size, work / f"score-{size}.csv", seed=1)
        output = work / f"scored-{size}.parquet"
        command = [sys.executable, "-m", "pipelines.cli", "predict", "--config", str(spec),
                   "--root", str(root), "--data", str(data), "--output", str(output)]
        load = os.getloadavg()[0]
        wall, peak, done, _ = measured(command)
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
        bare = subprocess.run([sys.executable, "-c", BARE, str(data), str(version)], capture_output=True,
                              text=True, check=True, cwd=REPO, env=env)
        signature = json.loads(bare.stdout.strip().splitlines()[-1])["seconds"]
        own = float(re.search(r"predicted [\d,]+ rows in ([\d.]+)s", done.stdout).group(1))
        results[size] = {"wall": wall, "own": own, "peak": peak, "signature": signature}
        print(f"{size:>10,} rows  predict {wall:7.1f} s wall, {own:6.1f} s after imports  "
              f"peak {peak:5.2f} GB  bare signature {signature:6.1f} s  "
              f"ratio {own / signature:5.2f} after imports, "
              f"{wall / signature:5.2f} wall  (load average {load:.1f} -> {os.getloadavg()[0]:.1f})",
              flush=True)
    sizes = sorted(results)
    first = results[sizes[0]]
    print(f"target: predict <= 1.5 x the bare signature at {sizes[0]:,} rows: "
          f"{first['own'] / first['signature']:.2f} after imports ({first['wall'] / first['signature']:.2f} "
          "with them)")
    if len(sizes) > 1:
        last = results[sizes[-1]]
        print(f"target: peak RSS flat from {sizes[0]:,} to {sizes[-1]:,} rows (<= 1.2 x): "
              f"{last['peak'] / first['peak']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
