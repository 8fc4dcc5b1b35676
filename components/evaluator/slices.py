"""Slices of the eval split (`evaluator.slices`): which slice value each row falls in, and every
metric per slice value, in vectorized NumPy: no loop over rows or slice values (bincounts over
the slice ids; for the AUC one sort of each class's scores, regrouped by a stable sort of the ids).

A string feature is sliced by value; a numeric one with at most BY_VALUE distinct eval values by
value too (a year, a count), any other into `buckets` quantile buckets of its eval values (edges
at the quantiles, so each bucket holds about 1/buckets of the rows). Rows without a value form
the slice "(missing)".
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BY_VALUE = 10  # a numeric feature with at most this many distinct eval values is sliced by value
MISSING = "(missing)"


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


AUC_CLASSES = 20  # per-slice AUC up to this many classes (one sort per class and model)


def classification_by_slice(slicings: list[tuple[np.ndarray, int]], labels: np.ndarray,
                            probabilities: np.ndarray, classes: list[str]) -> list[list[dict]]:
    """For each (slice ids, number of values) in `slicings`, per slice value: accuracy, macro AUC,
    precision and recall, log loss and the row count (scikit-learn's definitions, as
    metrics.classification_metrics). Bincounts over the slice ids; for the AUC each class's scores
    are sorted once for all the slicings, and regrouped by slice with a stable sort of the (small
    integer) slice ids."""
    k, n = len(classes), len(labels)
    labels = labels.astype(np.int64)
    guess = probabilities.argmax(axis=1)
    right = guess == labels
    picked = np.take_along_axis(probabilities, labels[:, None], axis=1)[:, 0]
    loss = -np.log(np.clip(picked.astype(np.float64), 1e-15, 1.0))
    scored = [1] if k == 2 else list(range(k))
    # ties need no stable order: they are counted by value in _auc_by_slice
    orders = {c: np.argsort(probabilities[:, c]) for c in scored} if k <= AUC_CLASSES and n else {}
    ordered = {c: (probabilities[order, c], labels[order] == c) for c, order in orders.items()}
    out = []
    for ids, size in slicings:
        count = np.bincount(ids, minlength=size).astype(np.float64)
        hits = np.bincount(ids[right] * k + labels[right], minlength=size * k).reshape(size, k)
        actual = np.bincount(ids * k + labels, minlength=size * k).reshape(size, k)
        guessed = np.bincount(ids * k + guess, minlength=size * k).reshape(size, k)
        seen = (actual > 0) | (guessed > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            accuracy = np.bincount(ids, right, minlength=size) / count
            log_loss = np.bincount(ids, loss, minlength=size) / count
            recall = (np.where(actual > 0, hits / actual, 0.0) * seen).sum(axis=1) / seen.sum(axis=1)
            precision = (np.where(guessed > 0, hits / guessed, 0.0) * seen).sum(axis=1) / seen.sum(axis=1)
            auc = np.full(size, np.nan)
            if orders:
                per_class = np.stack([_auc_by_slice(ids, size, *ordered[c], orders[c]) for c in scored],
                                     axis=1)
                macro = per_class[:, 0] if k == 2 else (np.where(actual > 0, per_class, 0.0).sum(axis=1)
                                                         / (actual > 0).sum(axis=1))
                auc = np.where((actual > 0).sum(axis=1) >= 2, macro, np.nan)
        out.append([{"accuracy": float(accuracy[s]), "auc": float(auc[s]), "precision": float(precision[s]),
                     "recall": float(recall[s]), "log_loss": float(log_loss[s]), "examples": int(count[s])}
                    for s in range(size)])
    return out


def _auc_by_slice(ids: np.ndarray, size: int, sorted_scores: np.ndarray, sorted_positive: np.ndarray,
                  order: np.ndarray) -> np.ndarray:
    """The one-vs-rest AUC (Mann-Whitney U, ties counted half) of every slice value. `order` sorts
    the scores; `sorted_scores` and `sorted_positive` are in that order. A stable sort of the slice
    ids regroups it by slice (the gathers after it read forwards within each slice), then each tie
    group of equal scores in a slice counts the negatives below it and beside it, from running
    sums: no per-row gather by group."""
    keys = ids[order].astype(np.int16 if size < (1 << 15) else np.int64)
    regroup = np.argsort(keys, kind="stable")
    sid, value, pos = keys[regroup], sorted_scores[regroup], sorted_positive[regroup]
    n = len(sid)
    starts = np.ones(n, dtype=bool)  # the first row of a (slice, score) tie group
    starts[1:] = (sid[1:] != sid[:-1]) | (value[1:] != value[:-1])
    first = np.flatnonzero(starts)
    ends = np.append(first[1:], n)
    negatives = np.concatenate([[0], np.cumsum(~pos)])  # negatives before each row
    positives = np.concatenate([[0], np.cumsum(pos)])
    below, beside = negatives[first], negatives[ends] - negatives[first]
    in_group = positives[ends] - positives[first]
    group_slice = sid[first]
    offset = negatives[np.searchsorted(sid, np.arange(size))]  # negatives before each slice's first row
    n_pos = np.bincount(group_slice, in_group, minlength=size)
    u = np.bincount(group_slice, in_group * (below + 0.5 * beside), minlength=size) - n_pos * offset
    n_neg = np.bincount(sid, minlength=size) - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def regression_by_slice(ids: np.ndarray, size: int, labels: np.ndarray,
                        predictions: np.ndarray) -> list[dict]:
    """mse, rmse, mae, r2 and the row count of every slice value (bincounts)."""
    y = labels.astype(np.float64)
    error = predictions.reshape(len(y)).astype(np.float64) - y
    count = np.bincount(ids, minlength=size).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.bincount(ids, error**2, minlength=size) / count
        mae = np.bincount(ids, np.abs(error), minlength=size) / count
        mean = np.bincount(ids, y, minlength=size) / count
        variance = np.bincount(ids, y**2, minlength=size) / count - mean**2
        r2 = np.where(variance > 1e-12 * np.maximum(mean**2, 1e-300), 1 - mse / variance, np.nan)
    return [{"mse": float(mse[s]), "rmse": float(np.sqrt(mse[s])), "mae": float(mae[s]), "r2": float(r2[s]),
             "examples": int(count[s])} for s in range(size)]
