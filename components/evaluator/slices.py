"""Slices of the eval split (`evaluator.slices`): which slice value each row falls in, and every
metric per slice value, in vectorized NumPy (one encoding pass per feature, one stable sort of the
slice ids, then each value's rows are one contiguous run of the sorted order).

A string feature is sliced by value; a numeric one with at most BY_VALUE distinct eval values by
value too (a year, a count), any other into `buckets` quantile buckets of its eval values (edges
at the quantiles, so each bucket holds about 1/buckets of the rows). Rows without a value form
the slice "(missing)".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BY_VALUE = 10  # a numeric feature with at most this many distinct eval values is sliced by value
MISSING = "(missing)"
# Per-slice metrics keep the scalars: no per-class table, confusion matrix or residual sample.
HEAVY = ("per_class", "confusion_matrix", "confusion_classes", "residuals", "imbalance_warning")


@dataclasses.dataclass
class Slicing:
    feature: str
    names: list[str]  # the slice values, in order
    ids: np.ndarray  # (rows,) int64: the index in `names` of each row's value
    how: str  # "by value" or "4 quantile buckets"


def slicing(feature: str, values: pa.Array, buckets: int = 4) -> Slicing:
    """The slices of one feature from each row's (first) value, null where missing."""
    missing = values.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_binary(values.type) or pa.types.is_string(values.type) or pa.types.is_null(values.type):
        encoded = pc.dictionary_encode(values.cast(pa.binary()) if not pa.types.is_null(values.type)
                                       else pa.array([None] * len(values), pa.binary()))
        words = [w.decode("utf-8", "replace") for w in encoded.dictionary.to_pylist()]
        order = np.argsort(np.array(words, dtype=object), kind="stable") if words else np.zeros(0, np.int64)
        rank = np.empty(len(words), dtype=np.int64)
        rank[order] = np.arange(len(words))
        ids = rank[encoded.indices.fill_null(0).to_numpy()] if words else np.zeros(len(values), np.int64)
        return _with_missing(feature, [words[i] for i in order], ids, missing, "by value")
    numbers = values.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    missing |= np.isnan(numbers)
    present = numbers[~missing]
    distinct = np.unique(present)
    if len(distinct) <= BY_VALUE:
        ids = np.searchsorted(distinct, np.where(missing, distinct[0] if len(distinct) else 0, numbers))
        return _with_missing(feature, [f"{v:g}" for v in distinct], ids, missing, "by value")
    edges = np.unique(np.quantile(present, np.linspace(0, 1, buckets + 1)[1:-1]))
    ids = np.searchsorted(edges, numbers, side="right")
    bounds = [float(present.min()), *edges.tolist(), float(present.max())]
    names = [f"[{bounds[i]:.4g}, {bounds[i + 1]:.4g}{']' if i == len(edges) else ')'}"
             for i in range(len(edges) + 1)]
    return _with_missing(feature, names, ids, missing, f"{len(names)} quantile buckets")


def _with_missing(feature: str, names: list[str], ids: np.ndarray, missing: np.ndarray, how: str) -> Slicing:
    ids = ids.astype(np.int64)
    if missing.any():
        ids[missing] = len(names)
        names = [*names, MISSING]
    return Slicing(feature, names, ids, how)


def per_slice(s: Slicing, metrics: Callable[[np.ndarray], dict]) -> list[dict]:
    """`metrics(rows)` (the row indices of one slice value) for each slice value, without the
    heavy keys: each value's rows come from one stable sort of the slice ids."""
    order = np.argsort(s.ids, kind="stable")
    bounds = np.searchsorted(s.ids[order], np.arange(len(s.names) + 1))
    out = []
    for k in range(len(s.names)):
        found = metrics(order[bounds[k]:bounds[k + 1]])
        out.append({key: v for key, v in found.items() if key not in HEAVY})
    return out
