"""What slices add to the Evaluator: 1M eval rows sliced by 3 features (a string of 5 values, a
number of 3 values, a float in 4 quantile buckets), every metric per slice value for the candidate
and the serving model, and the paired bootstrap (1,000 resamples) of accuracy on the whole split and
each slice. The rows are in memory (the Evaluator has them after scoring); the target is <= 2 s.

    .venv/bin/python benchmarks/slicing.py [--rows N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.evaluator import bootstrap, slices
from components.evaluator import metrics as m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    n, classes = args.rows, ["a", "b", "c"]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    candidate = rng.dirichlet([1, 1, 1], n).astype(np.float32)
    serving = rng.dirichlet([1, 1, 1], n).astype(np.float32)
    columns = {"region": pa.array(rng.choice([b"north", b"south", b"east", b"west", b"other"], n)),
               "tier": pa.array(rng.integers(1, 4, n)), "income": pa.array(rng.lognormal(10, 1, n))}
    start = time.perf_counter()
    m.classification_metrics(labels, candidate, classes)
    m.classification_metrics(labels, serving, classes)
    bootstrap.intervals(["accuracy"], labels, candidate, serving, 3, resamples=1000)
    base = time.perf_counter() - start
    start = time.perf_counter()
    cuts = [slices.slicing(name, values, 4) for name, values in columns.items()]
    encoded = time.perf_counter() - start
    for predicted in (candidate, serving):
        slices.classification_by_slice([(s.ids, len(s.names)) for s in cuts], labels, predicted, classes)
    per_value = time.perf_counter() - start - encoded
    bootstrap.intervals(["accuracy"], labels, candidate, serving, 3, [(s.ids, len(s.names)) for s in cuts],
                        resamples=1000)
    total = time.perf_counter() - start
    values = sum(len(s.names) for s in cuts)
    print(f"slicing {n:,} eval rows by 3 features ({values} slice values): adds {total:.2f} s "
          f"(slice ids {encoded:.2f} s, every metric per value for both models {per_value:.2f} s, bootstrap "
          f"of every slice {total - encoded - per_value:.2f} s); the whole split's metrics and bootstrap "
          f"alone {base:.2f} s; target <= 2 s: {'met' if total <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
