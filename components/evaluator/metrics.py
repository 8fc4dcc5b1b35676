"""Validation metrics in numpy, and the blessing rules."""

from __future__ import annotations

import math

import numpy as np

LOWER_IS_BETTER = frozenset({"log_loss", "mse", "rmse", "mae"})
CLASSIFICATION_METRICS = ("accuracy", "auc", "precision", "recall", "log_loss")
REGRESSION_METRICS = ("mse", "rmse", "mae", "r2")


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """accuracy, macro AUC (one-vs-rest), macro precision and recall, log loss, and per class."""
    labels = labels.astype(np.int64)
    predicted = probabilities.argmax(axis=1)
    per_class = {}
    for k, name in enumerate(classes):
        tp = int(np.sum((predicted == k) & (labels == k)))
        predicted_k, actual_k = int(np.sum(predicted == k)), int(np.sum(labels == k))
        per_class[name] = {
            "precision": tp / predicted_k if predicted_k else 0.0,
            "recall": tp / actual_k if actual_k else 0.0,
            "auc": _auc(probabilities[:, k], labels == k),
            "count": actual_k,
        }
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-15, 1.0)
    present = [c for c in per_class.values() if c["count"]]
    aucs = [c["auc"] for c in present if not math.isnan(c["auc"])]
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "auc": (per_class[classes[1]]["auc"] if len(classes) == 2 else float(np.mean(aucs)) if aucs else math.nan),
        "precision": float(np.mean([c["precision"] for c in present])),
        "recall": float(np.mean([c["recall"] for c in present])),
        "log_loss": float(-np.mean(np.log(picked))),
        "per_class": per_class,
        "examples": len(labels),
    }


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict:
    error = predictions - labels
    mse = float(np.mean(error**2))
    variance = float(np.var(labels))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - mse / variance if variance > 0 else math.nan,
        "examples": len(labels),
    }


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def judge(name: str, value: float, threshold: dict, baseline: float | None) -> tuple[bool, str]:
    """Whether `value` of metric `name` meets its threshold, and the reason in words, e.g.
    "accuracy 0.962 >= 0.9 (absolute) and +0.012 vs baseline 0.950 (required >= 0)"."""
    ok, parts = True, []
    low, high = threshold.get("lower_bound"), threshold.get("upper_bound")
    if low is not None:
        passed = value >= low
        ok &= passed
        parts.append(f"{name} {value:.4g} {'>=' if passed else '<'} {low:g} (absolute)")
    if high is not None:
        passed = value <= high
        ok &= passed
        parts.append(f"{name} {value:.4g} {'<=' if passed else '>'} {high:g} (absolute)")
    if not parts:
        parts.append(f"{name} {value:.4g}")
    for key, relative in (("min_improvement", False), ("min_relative_improvement", True)):
        required = threshold.get(key)
        if required is None:
            continue
        if baseline is None:
            parts.append(f"no baseline to compare with ({key} {required:g} not applied)")
            continue
        sign = -1.0 if name in LOWER_IS_BETTER else 1.0
        improvement = sign * (value - baseline)
        if relative:
            improvement = improvement / abs(baseline) if baseline else math.inf
        passed = improvement >= required
        ok &= passed
        unit = " relative" if relative else ""
        parts.append(f"{improvement:+.4g}{unit} vs baseline {baseline:.4g} "
                     f"(required >= {required:g}){'' if passed else ' FAILED'}")
    if not threshold:
        parts.append("no threshold")
    return bool(ok), " and ".join(parts)
