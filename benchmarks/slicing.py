"""What slices add to the Evaluator: 1M eval rows sliced by 3 features (a string of 5 values, a
number of 3 values, a float in 4 quantile buckets). Everything the Evaluator does only because
`evaluator.slices` is set:

- parsing the 3 slice columns from the serialized eval records, in the same parse as the label
  (executor.score_saved_model: one tf.io.parse_example per 8,192 records, each column's first
  value per row): the parse with the label and the 3 columns minus the parse with the label
  alone, on 8,192 records as ExampleGen writes them (10 features; some empty cells) parsed once
  per 8,192 rows;
- the slice ids of every row (slices.slicing);
- every metric per slice value for the candidate and the serving model (classification_by_slice);
- the paired bootstrap (1,000 resamples) of accuracy on each slice.

The scores, labels and slice values are in memory (random: 3 classes, float32 probabilities as a
Keras model gives). The target is <= 2 s. Each figure is the median of `--repeat` runs, in wall
time and in CPU time of this process (all its threads): on a shared machine the wall time
follows the load, the CPU time much less.

    .venv/bin/python benchmarks/slicing.py [--rows N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tensorflow as tf

from components.evaluator import bootstrap, slices
from components.evaluator import metrics as m
from components.evaluator.executor import first_values

BATCH = 8192  # the Evaluator's chunk (score_saved_model)
REGIONS = [b"north", b"south", b"east", b"west", b"other"]
KINDS = {"region": tf.string, "tier": tf.int64, "income": tf.float32}


def _records(rng: np.random.Generator) -> tf.Tensor:
    """BATCH serialized tf.Examples as ExampleGen writes a CSV row: a string label, 6 numbers, the 3
    slice columns; an empty cell is an empty list (about 2 % of region and income)."""
    out = []
    for i in range(BATCH):
        feature = {"label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"abc"[i % 3:i % 3 + 1]])),
                   "region": tf.train.Feature(bytes_list=tf.train.BytesList(
                       value=[] if rng.random() < 0.02 else [REGIONS[rng.integers(5)]])),
                   "tier": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(rng.integers(1, 4))])),
                   "income": tf.train.Feature(float_list=tf.train.FloatList(
                       value=[] if rng.random() < 0.02 else [float(rng.lognormal(10, 1))]))}
        for j in range(6):
            feature[f"x{j}"] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(rng.normal())]))
        out.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return tf.constant(out)


def _parse(batch: tf.Tensor, rows: int, names: list[str]) -> None:
    """The Evaluator's parse of `rows` records (batch after batch): the label and `names`."""
    spec = {"label": tf.io.RaggedFeature(tf.string)}
    spec.update({name: tf.io.RaggedFeature(KINDS[name]) for name in names})
    for start in range(0, rows, BATCH):
        part = batch if rows - start >= BATCH else batch[:rows - start]
        parsed = tf.io.parse_example(part, spec)
        first_values(parsed["label"])
        for name in names:
            first_values(parsed[name])


class Clock:
    """Wall and CPU seconds since the last call."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        took = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return took


def once(n: int, batch: tf.Tensor, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    classes = ["a", "b", "c"]
    labels = rng.integers(0, 3, n)
    candidate = rng.dirichlet([1, 1, 1], n).astype(np.float32)
    serving = rng.dirichlet([1, 1, 1], n).astype(np.float32)
    columns = {"region": pa.array(rng.choice(REGIONS, n)), "tier": pa.array(rng.integers(1, 4, n)),
               "income": pa.array(rng.lognormal(10, 1, n))}
    clock, took = Clock(), {}
    _parse(batch, n, [])
    alone = clock.lap()
    _parse(batch, n, list(KINDS))
    both = clock.lap()
    took["parse"] = (both[0] - alone[0], both[1] - alone[1])
    m.classification_metrics(labels, candidate, classes)
    m.classification_metrics(labels, serving, classes)
    bootstrap.intervals(["accuracy"], labels, candidate, serving, 3, resamples=1000)
    took["base"] = clock.lap()
    cuts = [slices.slicing(name, values, 4) for name, values in columns.items()]
    took["ids"] = clock.lap()
    for predicted in (candidate, serving):
        slices.classification_by_slice([(s.ids, len(s.names)) for s in cuts], labels, predicted, classes)
    took["per_value"] = clock.lap()
    bootstrap.intervals(["accuracy"], labels, candidate, serving, 3, [(s.ids, len(s.names)) for s in cuts],
                        resamples=1000)
    took["bootstrap"] = clock.lap()
    took["total"] = tuple(sum(took[k][i] for k in ("parse", "ids", "per_value", "bootstrap")) for i in (0, 1))
    took["values"] = (sum(len(s.names) for s in cuts), 0)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; each figure is their median")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    batch = _records(rng)
    _parse(batch, BATCH, list(KINDS))  # TF's first call builds its functions
    load = os.getloadavg()[0]
    runs = [once(args.rows, batch, rng) for _ in range(args.repeat)]
    load = max(load, os.getloadavg()[0])

    def median(key: str, i: int = 0) -> float:
        return statistics.median(run[key][i] for run in runs)

    totals = sorted(run["total"][0] for run in runs)
    verdict = "met" if median("total") <= 2 else "NOT met"

    def both(key: str) -> str:
        return f"{median(key):.2f} s ({median(key, 1):.2f} CPU)"

    print(f"slicing {args.rows:,} eval rows by 3 features ({int(median('values'))} slice values): adds "
          f"{median('total'):.2f} s wall, {median('total', 1):.2f} s CPU (median of {len(runs)}, wall "
          f"{totals[0]:.2f}-{totals[-1]:.2f} s; load average up to {load:.1f}): parsing the 3 columns from "
          f"the records {both('parse')}, slice ids {both('ids')}, every metric per value for both models "
          f"{both('per_value')}, bootstrap of every slice {both('bootstrap')}; the whole split's metrics "
          f"and bootstrap alone {both('base')}; target <= 2 s: {verdict}")

if __name__ == "__main__":
    main()
