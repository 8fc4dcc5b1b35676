"""Validation metrics in numpy, and the blessing rules."""

from __future__ import annotations

import logging
import math

import numpy as np

from components.evaluator import bootstrap
from pipelines.spec.models import CLASSIFICATION_METRICS, LOWER_IS_BETTER, REGRESSION_METRICS

__all__ = ["CLASSIFICATION_METRICS", "LOWER_IS_BETTER", "REGRESSION_METRICS", "capped_confusion",
           "classification_metrics", "judge", "regression_metrics", "trivial"]


MINORITY_WARNING = 0.10  # a class under this share of the eval labels is called rare
CONFUSION_CLASSES = 50  # the confusion matrix keeps this many classes (the most frequent) and one "others"
# Rows the metrics look at in one numpy operation where a whole-split temporary is not needed (the
# AUC's look-ups, the confusion counts): a few int64 arrays of this size, 2 MB each, whatever the
# eval split's size (3.3M eval rows of 10M: the metrics' peak above their inputs went from 0.27 GB,
# scipy's rankdata and np.add.at, to 0.09 GB).
METRIC_CHUNK = 1 << 18


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """accuracy, macro AUC (one-vs-rest), macro precision and recall, log loss, and per class;
    and what a macro average hides: `worst_class_recall` (the lowest recall of a class present in
    the labels, and `worst_class`, its name), `majority_baseline_accuracy` (the accuracy of always
    predicting the most frequent eval class, `majority_class`), and `imbalance_warning` (a sentence,
    also logged, when the rarest class present, for two classes the positive one, is under 10 % of
    the labels; else None). `averaging` says that precision, recall and AUC are macro averages.

    The definitions are scikit-learn's: macro precision and recall average over the classes that
    occur in the labels or the predictions (a class never predicted has precision 0, a class
    never present recall 0); the macro AUC averages the one-vs-rest AUC of the classes present
    in the labels, and is NaN (never a pass) when fewer than two classes are present."""
    labels = labels.astype(np.int64)
    predicted = probabilities.argmax(axis=1)
    per_class = {}
    hits = np.bincount(labels[predicted == labels], minlength=len(classes))
    predicted_n = np.bincount(predicted, minlength=len(classes))
    actual_n = np.bincount(labels, minlength=len(classes))
    for k, name in enumerate(classes):
        tp, predicted_k, actual_k = int(hits[k]), int(predicted_n[k]), int(actual_n[k])
        per_class[name] = {
            "precision": tp / predicted_k if predicted_k else 0.0,
            "recall": tp / actual_k if actual_k else 0.0,
            "auc": _auc(probabilities[:, k], labels == k),
            "count": actual_k,
            "predicted": predicted_k,
        }
    picked = np.clip(np.take_along_axis(probabilities, labels[:, None], axis=1)[:, 0], 1e-15, 1.0)
    seen = [c for c in per_class.values() if c["count"] or c["predicted"]]
    present = [c for c in per_class.values() if c["count"]]
    if len(present) < 2:
        auc = math.nan
    elif len(classes) == 2:
        auc = per_class[classes[1]]["auc"]
    else:
        auc = float(np.mean([c["auc"] for c in present]))
    confusion_classes, confusion = capped_confusion(labels, predicted, classes)
    return {**_weak_class(per_class, classes, len(labels)),
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else math.nan,
        "auc": auc,
        "precision": float(np.mean([c["precision"] for c in seen])) if seen else math.nan,
        "recall": float(np.mean([c["recall"] for c in seen])) if seen else math.nan,
        "log_loss": float(-np.mean(np.log(picked))) if len(labels) else math.nan,
        "per_class": per_class,
        "confusion_matrix": confusion,
        "confusion_classes": confusion_classes,
        "examples": len(labels),
    }


def capped_confusion(labels: np.ndarray, predicted: np.ndarray, classes: list[str],
                     top: int = CONFUSION_CLASSES) -> tuple[list[str], list[list[int]]]:
    """(row/column names, counts) of the confusion matrix (rows: actual class, columns: predicted)
    of the `top` classes most frequent in the labels (ties: the most predicted, then the first),
    in their order, and, when there are more classes, one last row and column "others (N
    classes)" that counts the rest: at most (top + 1)^2 cells, never K x K for a large K."""
    k = len(classes)
    if k <= top:
        kept = np.arange(k)
    else:
        counts, guesses = np.bincount(labels, minlength=k), np.bincount(predicted, minlength=k)
        kept = np.sort(np.lexsort((np.arange(k), -guesses, -counts))[:top])
    index = np.full(k, len(kept), dtype=np.int64)  # every class outside `kept` -> the "others" slot
    index[kept] = np.arange(len(kept))
    size = len(kept) + (k > len(kept))
    confusion = np.zeros(size * size, dtype=np.int64)  # counted a chunk of rows at a time
    for start in range(0, len(labels), METRIC_CHUNK):
        rows = slice(start, start + METRIC_CHUNK)
        confusion += np.bincount(index[labels[rows]] * size + index[predicted[rows]], minlength=size * size)
    confusion = confusion.reshape(size, size)
    names = [classes[i] for i in kept] + ([f"others ({k - len(kept):,} classes)"] if k > len(kept) else [])
    return names, confusion.tolist()


def _weak_class(per_class: dict, classes: list[str], n: int) -> dict:
    """The worst per-class recall, the majority-class baseline and the imbalance warning."""
    present = {name: c for name, c in per_class.items() if c["count"]}
    if not present:
        return {"averaging": "macro", "worst_class_recall": math.nan, "worst_class": None,
                "majority_baseline_accuracy": math.nan, "majority_class": None, "imbalance_warning": None}
    worst = min(present, key=lambda name: (present[name]["recall"], name))
    majority = max(present, key=lambda name: (present[name]["count"], name))
    # the positive class of a binary label is the second one (as for the binary AUC)
    rare = classes[1] if len(classes) == 2 and classes[1] in present else min(
        present, key=lambda name: (present[name]["count"], name))
    share = present[rare]["count"] / n
    warning = None
    if share < MINORITY_WARNING:
        warning = (f"class {rare!r} is only {share:.1%} of the {n:,} eval labels "
                   f"({present[rare]['count']:,}); always predicting {majority!r} scores accuracy "
                   f"{present[majority]['count'] / n:.4f}, so look at {rare!r}'s recall "
                   f"({present[rare]['recall']:.4f}) and the worst class recall, not the accuracy")
        logging.getLogger(__name__).warning("Evaluator: %s", warning)
    return {"averaging": "macro", "worst_class_recall": float(present[worst]["recall"]), "worst_class": worst,
            "majority_baseline_accuracy": present[majority]["count"] / n, "majority_class": majority,
            "imbalance_warning": warning}


def regression_metrics(labels: np.ndarray, predictions: np.ndarray, sample: int = 1000) -> dict:
    """mse, rmse, mae and r² (scikit-learn's definitions), and up to `sample` evenly spaced
    (label, prediction) pairs for a residual plot."""
    predictions = predictions.reshape(len(labels))
    error = predictions - labels
    mse = float(np.mean(error**2))
    variance = float(np.var(labels))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - mse / variance if variance > 0 else math.nan,
        "residuals": [[float(labels[i]), float(predictions[i])]
                      for i in np.linspace(0, len(labels) - 1, min(sample, len(labels)), dtype=np.int64)],
        "examples": len(labels),
    }


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney U over n_pos * n_neg, each positive counting the
    negatives scored below it and half those scored the same (the rank-sum formula with ties
    averaged, exactly). Without ranking all the scores at once (scipy's rankdata took some 70
    bytes a row): each class's scores sorted apart (a copy of the scores' size) and the sorted
    positives looked up among the negatives METRIC_CHUNK at a time. NaN when one class is absent
    or a score is NaN."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    pos, neg = np.sort(scores[positive]), np.sort(scores[~positive])
    if np.isnan(pos[-1]) or np.isnan(neg[-1]):  # NaN sorts last
        return math.nan
    twice_u = 0  # 2 U, an integer: below + (below + ties) for each positive
    for start in range(0, n_pos, METRIC_CHUNK):
        part = pos[start:start + METRIC_CHUNK]
        twice_u += int(np.searchsorted(neg, part, "left").sum())
        twice_u += int(np.searchsorted(neg, part, "right").sum())
    return twice_u / (2 * n_pos * n_neg)


def judge(name: str, value: float, threshold: dict, baseline: float | None,
          tolerance: float | None = None, interval: tuple[float, float] | None = None,
          rule: str = "point", against: str = "serving") -> tuple[bool, str]:
    """Whether `value` of metric `name` meets its threshold, and the reason in words, always with
    the serving model's value and the difference when there is one, e.g.
    "accuracy 0.568 vs serving 0.629 (-0.061, 95% CI -0.094..-0.028, allowed >= -0.001 at the
    CI's upper end FAILED)".

    `tolerance` (not None) is the default comparison: the candidate may be worse than `baseline`
    by at most this much, judged by `rule` against `interval` (the bootstrap's 95% interval of
    value - baseline; see bootstrap.worse_beyond), unless `threshold` has its own min_improvement
    or min_relative_improvement (compared as written, on the point values). `against` names the
    baseline in the sentence."""
    if value is None or math.isnan(value):
        return False, (f"{name} is not defined on this eval split (NaN: for example a single class in "
                       "the labels, or no examples); a metric that cannot be computed never passes")
    lower_is_better = name in LOWER_IS_BETTER
    comparable = baseline is not None and not math.isnan(baseline)
    head = f"{name} {value:.4g}"
    if comparable:
        direction = ", lower is better" if lower_is_better else ""
        noise = f", {bootstrap.show(interval)}" if interval is not None else ""
        head += f" vs {against} {baseline:.4g} ({value - baseline:+.4g}{direction}{noise}"
    ok, checks = True, []
    low, high = threshold.get("lower_bound"), threshold.get("upper_bound")
    if low is not None:
        ok &= value >= low
        checks.append(f"{'>=' if value >= low else '<'} {low:g} (absolute)")
    if high is not None:
        ok &= value <= high
        checks.append(f"{'<=' if value <= high else '>'} {high:g} (absolute)")
    rules = [(key, threshold[key], key == "min_relative_improvement")
             for key in ("min_improvement", "min_relative_improvement") if threshold.get(key) is not None]
    if tolerance is not None and not rules:
        rules = [("compare_tolerance", -tolerance, False)]
    comparison = []
    for key, required, relative in rules:
        if not comparable:
            reason = "no model serving" if baseline is None else f"the {against} model's value is NaN"
            checks.append(f"{key} {required:g} not applied: {reason}")
            continue
        improvement = (baseline - value) if lower_is_better else (value - baseline)
        if relative and not baseline:
            ok = False
            checks.append("a relative improvement over a baseline of 0 is undefined (use min_improvement)")
            continue
        if relative:
            improvement /= abs(baseline)
        by_noise = key == "compare_tolerance" and interval is not None and rule != "point"
        if by_noise:
            passed = not bootstrap.worse_beyond(name, value - baseline, interval, -required, rule)
        else:
            passed = improvement >= required - 1e-12
        ok &= passed
        where = f" at the CI's {'upper' if rule == 'significant' else 'lower'} end" if by_noise else ""
        said = (f"{'allowed' if required < 0 else 'required'} >= {required:g}{where}"
                f"{'' if passed else ' FAILED'}")
        if relative:
            said = f"relative improvement {improvement:+.4g}, {said}"
        elif lower_is_better:  # the difference shown is value - baseline; say the improvement too
            said = f"improvement {improvement:+.4g}, {said}"
        comparison.append(said)
    if comparable:
        head += "".join(f", {c}" for c in comparison) + ")"
    elif baseline is None and not rules:
        head += " (no model serving)"
    if not threshold and not rules:
        checks.append("no threshold")
    return bool(ok), " and ".join([head, *checks])


def trivial(labels: np.ndarray, classes: list[str] | None, train_mean: float | None = None) -> dict:
    """What the best constant prediction scores on these eval labels: the bar "never worse than
    trivial" sets. Classification: always answering the majority class (its accuracy) and the
    eval class priors as probabilities (their log loss: the lowest any constant probabilities
    reach; AUC 0.5); regression: the eval mean (r2 0, mse the labels' variance: the lowest of any
    constant), and the train mean's mse for reference. `predictor` says what it is in words (by
    metric) and
    `predictions` gives it as a constant array for the bootstrap (a broadcast view: no copy)."""
    n = len(labels)
    if classes is not None:
        counts = np.bincount(labels.astype(np.int64), minlength=len(classes))
        priors = counts / max(n, 1)
        # ties: the last name, as majority_class (the accuracy is the same)
        majority = max(range(len(classes)), key=lambda k: (counts[k], classes[k])) if n else 0
        nonzero = priors[priors > 0]
        return {"accuracy": float(priors[majority]) if n else math.nan,
                "log_loss": float(-(nonzero * np.log(nonzero)).sum()) if n else math.nan, "auc": 0.5,
                "predictor": {"accuracy": f"always {classes[majority]!r}, the majority class",
                              "log_loss": "the eval class priors as probabilities"},
                "predictions": np.broadcast_to(priors, (n, len(classes)))}  # argmax: the first majority
    labels = labels.astype(np.float64)
    mean = float(labels.mean()) if n else math.nan
    variance = float(labels.var()) if n else math.nan
    out = {"mse": variance, "rmse": math.sqrt(variance),
           "mae": float(np.abs(labels - mean).mean()) if n else math.nan, "r2": 0.0,
           "predictor": {"r2": f"always the eval mean {mean:.4g}"}, "predictions": np.full(n, mean)}
    if train_mean is not None and n:
        out["train_mean"] = train_mean
        out["train_mean_mse"] = float(np.mean((labels - train_mean) ** 2))
    return out


TRIVIAL_CHECKS = {"classification": ("accuracy", "log_loss"), "regression": ("r2",)}


def beats_trivial(name: str, value: float, bar: float, interval: tuple[float, float] | None,
                  predictor: str) -> tuple[bool, str]:  # predictor: in words, e.g. "always 'No'"
    """The candidate's `name` against the best constant prediction's `bar`: accuracy may equal
    it (a model that ranks a rare class well may still answer the majority class at 0.5), log loss
    and r2 must be strictly better. Judged on the point values; the interval is shown."""
    if value is None or math.isnan(value):
        return False, (f"{name} is not defined on this eval split (NaN): a model that cannot be scored "
                       "never passes")
    lower = name in LOWER_IS_BETTER
    better = value < bar if lower else (value >= bar - 1e-12 if name == "accuracy" else value > bar)
    noise = f", {bootstrap.show(interval)}" if interval is not None else ""
    need = ("below" if lower else "at least" if name == "accuracy" else "above")
    return better, (f"{name} {value:.4g} vs trivial {bar:.4g} ({value - bar:+.4g}{noise}; {predictor}): "
                    f"must be {need} the trivial model's{'' if better else ' FAILED'}")
