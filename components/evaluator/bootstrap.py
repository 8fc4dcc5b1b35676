"""The noise in a comparison: a seeded, vectorized paired bootstrap of candidate - serving.

Every compared metric is a function of sums of per-row statistics (accuracy: the correct rows;
log loss: each row's loss; r2: the squared errors, the labels and their squares; macro precision
and recall: per class the hits, the labels and the predictions). Rows are grouped (each row its own
group up to GROUPS rows, else assigned at random, seeded, to GROUPS groups: random groups of iid
rows resample as the rows do), the statistics summed per group and per slice, and each of the
`resamples` resamples weights the groups with Poisson(1) counts (the Poisson bootstrap): one matrix
product gives every resample's sums for the whole split and every slice at once. Both models are
weighted by the same draws (paired), so the interval is that of the difference on the same rows.

No metric needs a pass per resample; the AUC, a rank statistic, has no interval here (None).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from pipelines.spec.models import LOWER_IS_BETTER

GROUPS = 4096  # rows are resampled individually up to this many, else in this many random groups
CONFIDENCE = 0.95
MAX_CLASSES = 50  # macro precision/recall get an interval up to this many classes (3 sums a class)
SUPPORTED = ("accuracy", "log_loss", "precision", "recall", "mse", "rmse", "mae", "r2")


def row_stats(name: str, labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray | None:
    """(n, q) float64 per-row statistics of metric `name` for one model (`predicted`: class
    probabilities, or predictions of a regression); None when it has no interval here."""
    if name not in SUPPORTED or (name in ("precision", "recall") and classes > MAX_CLASSES):
        return None
    if name == "accuracy":
        return (predicted.argmax(axis=1) == labels).astype(np.float64)[:, None]
    if name == "log_loss":
        picked = np.take_along_axis(predicted, labels.astype(np.int64)[:, None], axis=1)[:, 0]
        return -np.log(np.clip(picked.astype(np.float64), 1e-15, 1.0))[:, None]
    if name in ("precision", "recall"):
        guess, truth = predicted.argmax(axis=1), labels.astype(np.int64)
        out = np.zeros((len(labels), 3 * classes))
        rows = np.arange(len(labels))
        out[rows[guess == truth], truth[guess == truth]] = 1.0  # hits of the class
        out[rows, classes + truth] = 1.0  # labels of the class
        out[rows, 2 * classes + guess] = 1.0  # predictions of the class
        return out
    error = predicted.reshape(len(labels)).astype(np.float64) - labels
    if name == "mae":
        return np.abs(error)[:, None]
    if name == "r2":
        y = labels.astype(np.float64)
        return np.stack([error**2, y, y**2], axis=1)
    return (error**2)[:, None]  # mse, rmse


def from_sums(name: str, sums: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Metric `name` from `sums` (..., q) of `row_stats` over `count` (...) rows; NaN where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if name in ("accuracy", "log_loss", "mse", "mae"):
            return sums[..., 0] / count
        if name == "rmse":
            return np.sqrt(sums[..., 0] / count)
        if name == "r2":
            spread = sums[..., 2] - sums[..., 1] ** 2 / count
            defined = spread > 1e-12 * np.maximum(sums[..., 2], 1e-300)
            return np.where(defined, 1.0 - sums[..., 0] / spread, np.nan)
        k = sums.shape[-1] // 3
        hits, actual, guessed = sums[..., :k], sums[..., k:2 * k], sums[..., 2 * k:]
        part = np.where(actual > 0, hits / actual, 0.0) if name == "recall" else np.where(
            guessed > 0, hits / guessed, 0.0)
        seen = (actual > 0) | (guessed > 0)
        return np.where(seen.any(axis=-1), (part * seen).sum(axis=-1) / seen.sum(axis=-1), np.nan)


def groups_of(n: int, seed: int) -> tuple[np.ndarray, int]:
    """(group id of each row, number of groups)."""
    if n <= GROUPS:
        return np.arange(n), max(n, 1)
    return np.random.default_rng(seed).integers(0, GROUPS, n), GROUPS


@functools.lru_cache(maxsize=4)
def weights(resamples: int, groups: int, seed: int) -> np.ndarray:
    """(resamples, groups) Poisson(1) weights, float64, seeded, read-only (cached: the whole split
    and the slices are weighted by the same draws). Each weight is a look-up of a random 16-bit
    number in the Poisson(1) quantiles at (v + 0.5) / 65536 (each count's probability within
    1/65536 of Poisson's): numpy's own Poisson sampler took 0.7 s for 4M draws on a busy machine,
    this takes a few hundredths."""
    quantiles = (np.arange(1 << 16) + 0.5) / (1 << 16)
    cdf = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(20)])
    table = np.searchsorted(cdf, quantiles).astype(np.float64)
    draws = np.random.default_rng([seed, 1]).integers(0, 1 << 16, (resamples, groups), dtype=np.uint16)
    out = table[draws]
    out.flags.writeable = False
    return out


def intervals(metrics: list[str], labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray,
              classes: int, slicings: list[tuple[np.ndarray, int]] | None = None,
              resamples: int = 1000, seed: int = 0) -> list[dict[str, tuple[float, float] | None]]:
    """The 95% interval of candidate - baseline for each metric: [whole split] + one dict per
    slice value of each (slice ids of the rows, number of values) in `slicings`, in order."""
    n = len(labels)
    slicings = [(np.zeros(n, dtype=np.int64), 1), *(slicings or [])]
    out = [dict.fromkeys(metrics) for _, size in slicings for _ in range(size)]
    if n == 0:
        return out
    group, n_groups = groups_of(n, seed)
    draw = weights(resamples, n_groups, seed)
    low, high = 100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2
    for name in metrics:
        ours, theirs = row_stats(name, labels, candidate, classes), row_stats(name, labels, baseline, classes)
        if ours is None:
            continue
        stats = np.concatenate([np.ones((n, 1)), ours, theirs], axis=1)  # count, candidate's, serving's
        q, half = stats.shape[1], ours.shape[1]
        offset = 0
        for ids, size in slicings:
            key = ids.astype(np.int64) * n_groups + group  # (slice value, group)
            summed = np.stack([np.bincount(key, stats[:, j], minlength=size * n_groups) for j in range(q)],
                              axis=1).reshape(size, n_groups, q)
            resampled = (draw @ summed.transpose(1, 0, 2).reshape(n_groups, size * q)).reshape(
                resamples, size, q).transpose(1, 0, 2)  # (slice value, resample, q)
            count = resampled[..., 0]
            diff = (from_sums(name, resampled[..., 1:1 + half], count)
                    - from_sums(name, resampled[..., 1 + half:], count))
            for s in range(size):
                finite = diff[s][np.isfinite(diff[s])]
                if len(finite) >= 0.9 * resamples:
                    lo, hi = np.percentile(finite, [low, high])
                    out[offset + s][name] = (float(lo), float(hi))
            offset += size
    return out


def worse_beyond(name: str, diff: float, interval: tuple[float, float] | None, tolerance: float,
                 rule: str) -> bool:
    """Whether a candidate whose metric `name` differs from the serving model's by `diff`
    (candidate - serving) with `interval` is refused under `rule` ("significant", "point",
    "strict"); without an interval, "point"."""
    sign = -1.0 if name in LOWER_IS_BETTER else 1.0  # improvement = sign * diff
    if interval is None or rule == "point":
        return sign * diff < -tolerance - 1e-12
    lo, hi = sorted((sign * interval[0], sign * interval[1]))
    if rule == "significant":
        return hi < -tolerance - 1e-12
    return lo < -tolerance - 1e-12


def show(interval: tuple[float, float] | None) -> str:
    if interval is None or any(math.isnan(v) for v in interval):
        return "no 95% CI"
    return f"95% CI {interval[0]:+.3g}..{interval[1]:+.3g}"
