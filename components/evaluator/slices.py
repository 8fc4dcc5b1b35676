"""Slices of the eval split (`evaluator.slices`): which slice value each row falls in, and every
metric per slice value, in vectorized NumPy: no loop over rows or slice values (bincounts over
the slice ids; for the AUC one radix sort of each class's scores, regrouped per slice feature by
a radix sort of the ids, and the rank sum). benchmarks/slicing.py measures what it adds.

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
    present = numbers[~missing] if missing.any() else numbers
    # by value when few distinct values: more than BY_VALUE in the first rows settle it without a
    # sort of all of them; else Arrow's hash of the values (np.unique's sort: 3-5x slower at 1M)
    distinct = np.unique(present[:4096])
    if len(distinct) <= BY_VALUE:
        distinct = np.unique(pc.unique(pa.array(present)).to_numpy())  # np.unique: -0.0 == 0.0
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
    are sorted once for all the slicings (score_order), and each slicing regroups that order by
    slice with a radix sort of its small integer ids (_auc_by_slice)."""
    k, n = len(classes), len(labels)
    labels = labels.astype(np.int64)
    guess = probabilities.argmax(axis=1)
    right = guess == labels
    picked = np.take_along_axis(probabilities, labels[:, None], axis=1)[:, 0]
    loss = -np.log(np.clip(picked.astype(np.float64), 1e-15, 1.0))
    scored = [1] if k == 2 else list(range(k))
    small = [ids.astype(np.uint8 if size <= 1 << 8 else np.uint16 if size <= 1 << 16 else np.int64)
             for ids, size in slicings]  # radix-sortable slice ids (numpy sorts <= 16-bit keys by radix)
    ranked = {}  # class -> (the rows by score; in that order: positive, tied, the score, NaN)
    if k <= AUC_CLASSES and n:
        narrow = labels.astype(np.uint8)  # a gather in score order reads 1 byte a row, not 8
        for c in scored:
            order, value = score_order(probabilities[:, c])
            equal = value[1:] == value[:-1]  # NaN is never equal: NaN slices are set apart below
            tied = np.zeros(n, dtype=bool)
            tied[1:] = equal
            tied[:-1] |= equal
            unknown = np.isnan(value) if value.dtype.kind == "f" else None
            ranked[c] = (order, narrow[order] == c, tied if equal.any() else None, value,
                         unknown if unknown is not None and unknown.any() else None)
    out = []
    for (ids, size), sid in zip(slicings, small):
        cell = ids * k
        guessed = np.bincount(cell + guess, minlength=size * k).reshape(size, k)
        cell += labels
        actual = np.bincount(cell, minlength=size * k).reshape(size, k)
        hits = np.bincount(cell, right, minlength=size * k).reshape(size, k)
        count = actual.sum(axis=1).astype(np.float64)
        seen = (actual > 0) | (guessed > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            accuracy = hits.sum(axis=1) / count
            log_loss = np.bincount(ids, loss, minlength=size) / count
            recall = (np.where(actual > 0, hits / actual, 0.0) * seen).sum(axis=1) / seen.sum(axis=1)
            precision = (np.where(guessed > 0, hits / guessed, 0.0) * seen).sum(axis=1) / seen.sum(axis=1)
            auc = np.full(size, np.nan)
            if ranked:
                per_class = np.stack([_auc_by_slice(sid, size, *ranked[c]) for c in scored], axis=1)
                macro = per_class[:, 0] if k == 2 else (np.where(actual > 0, per_class, 0.0).sum(axis=1)
                                                         / (actual > 0).sum(axis=1))
                auc = np.where((actual > 0).sum(axis=1) >= 2, macro, np.nan)
        out.append([{"accuracy": float(accuracy[s]), "auc": float(auc[s]), "precision": float(precision[s]),
                     "recall": float(recall[s]), "log_loss": float(log_loss[s]), "examples": int(count[s])}
                    for s in range(size)])
    return out


def score_order(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the row indices in ascending score order, the scores in that order); tied scores in row
    order. A float's bits made order-preserving as an unsigned integer, then a least-significant-
    digit radix sort by 16-bit digits, each numpy's stable argsort of uint16 (a radix sort): 2
    passes for float32 scores (or float64 ones that are float32 values), 4 for other float64s. On
    1M float32 scores 28 ms, against 110 ms for numpy's sort of 64-bit (score, row) keys and 170 ms
    for its argsort (measured under load 4). Scores of another type: argsort."""
    scores = np.ascontiguousarray(scores)
    if scores.dtype == np.float64:
        narrow = scores.astype(np.float32)
        if np.array_equal(narrow, scores, equal_nan=True):
            scores = narrow
    if scores.dtype not in (np.float32, np.float64):
        order = np.argsort(scores, kind="stable")
        return order, scores[order]
    wide = scores.dtype == np.float64
    signed, unsigned = (np.int64, np.uint64) if wide else (np.int32, np.uint32)
    # IEEE order as unsigned integers: flip every bit of a negative number, only the sign of the others
    # (the arithmetic shift of the sign gives all ones for a negative number, zeros for the others)
    flip = (scores.view(signed) >> (63 if wide else 31)).view(unsigned) | unsigned(1 << (63 if wide else 31))
    bits = scores.view(unsigned) ^ flip
    del flip
    order = None
    for shift in range(0, 64 if wide else 32, 16):
        digit = (bits >> unsigned(shift)).astype(np.uint16)  # the low 16 bits after the shift
        order = np.argsort(digit, kind="stable") if order is None else order[
            np.argsort(digit[order], kind="stable")]
    return order, scores[order]


def _auc_by_slice(sid: np.ndarray, size: int, order: np.ndarray, positive: np.ndarray,
                  tied: np.ndarray | None, value: np.ndarray, unknown: np.ndarray | None) -> np.ndarray:
    """The one-vs-rest AUC (Mann-Whitney U, ties counted half) of every slice value, by the rank
    sum: U = R - n_pos (n_pos + 1) / 2, R the sum of the positives' ranks within their slice, tied
    scores ranked by their average. `order` sorts the scores (`value`, `positive`, `tied` are in
    that order; `tied`: the row's score equals a neighbour's, None when no two are equal); a
    stable radix sort of the slice ids (`sid`) regroups it by slice, scores ascending within each,
    so a row's rank in its slice is its position there. Ranks of tied rows: only those rows are
    looked at again, each run of one score in one slice ranked by its mean position. NaN for a
    slice with a NaN score (`unknown`, in score order), as metrics' whole-split AUC."""
    keys = sid[order]
    regroup = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=size)
    starts = np.concatenate([[0], np.cumsum(counts)])
    hit = positive[regroup]
    place = np.flatnonzero(hit)  # positions of the positives, slice by slice
    bounds = np.searchsorted(place, starts)
    n_pos = np.diff(bounds).astype(np.float64)
    sums = np.concatenate([[0], np.cumsum(place, dtype=np.float64)])
    ranks = sums[bounds[1:]] - sums[bounds[:-1]] - n_pos * starts[:-1] + n_pos  # 1-based, ties unaveraged
    if tied is not None:
        at = np.flatnonzero(tied[regroup])  # tied rows, slice by slice, scores ascending
        rows = regroup[at]
        group_value, group_slice, hits = value[rows], keys[rows], hit[at]
        new = np.ones(len(at), dtype=bool)
        new[1:] = (group_value[1:] != group_value[:-1]) | (group_slice[1:] != group_slice[:-1])
        group = np.cumsum(new) - 1
        mean = np.bincount(group, at) / np.bincount(group)  # each run's mean position
        ranks += np.bincount(group_slice, hits * (mean[group] - at), minlength=size)
    n_neg = counts - n_pos
    if unknown is not None:
        n_pos[np.bincount(keys[unknown], minlength=size) > 0] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        u = ranks - n_pos * (n_pos + 1) / 2
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
