"""Evaluator metrics against scikit-learn, and the blessing rules and their reasons."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from components.evaluator.executor import bless
from components.evaluator.metrics import classification_metrics, judge, regression_metrics


def test_classification_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=200)
    logits = rng.normal(size=(200, 3)) + np.eye(3)[labels] * 1.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = classification_metrics(labels, probabilities, ["a", "b", "c"])
    predicted = probabilities.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert got["precision"] == pytest.approx(sk.precision_score(labels, predicted, average="macro"))
    assert got["recall"] == pytest.approx(sk.recall_score(labels, predicted, average="macro"))
    assert got["log_loss"] == pytest.approx(sk.log_loss(labels, probabilities))
    assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, probabilities, multi_class="ovr"))
    assert got["per_class"]["b"]["recall"] == pytest.approx(sk.recall_score(labels == 1, predicted == 1))
    assert got["confusion_matrix"] == sk.confusion_matrix(labels, predicted, labels=[0, 1, 2]).tolist()


def test_binary_auc_with_ties_matches_scikit_learn():
    labels = np.array([0, 0, 1, 1, 1, 0])
    p1 = np.array([0.1, 0.4, 0.4, 0.8, 0.4, 0.2])
    got = classification_metrics(labels, np.stack([1 - p1, p1], axis=1), ["no", "yes"])
    assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, p1))


def test_auc_and_confusion_of_more_rows_than_one_chunk_match_scikit_learn():
    """The AUC's look-ups and the confusion counts go METRIC_CHUNK rows at a time; many ties
    (scores rounded to 2 decimals), and a NaN score gives no AUC (as scipy's rankdata did)."""
    from components.evaluator.metrics import METRIC_CHUNK, _auc

    rng = np.random.default_rng(3)
    n = 2 * METRIC_CHUNK + 1234
    labels = rng.integers(0, 2, size=n)
    p1 = np.round(np.clip(rng.normal(0.4 + 0.2 * labels, 0.2), 0, 1), 2).astype(np.float32)
    got = classification_metrics(labels, np.stack([1 - p1, p1], axis=1), ["no", "yes"])
    assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, p1), abs=1e-12)
    predicted = (p1 > 0.5).astype(int)
    assert got["confusion_matrix"] == sk.confusion_matrix(labels, predicted, labels=[0, 1]).tolist()
    p1[7] = np.nan
    assert np.isnan(_auc(p1, labels == 1))


def test_regression_metrics_match_scikit_learn():
    y = np.array([3.0, -0.5, 2.0, 7.0])
    p = np.array([2.5, 0.0, 2.0, 8.0])
    got = regression_metrics(y, p)
    assert got["mse"] == pytest.approx(sk.mean_squared_error(y, p))
    assert got["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, p)))
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, p))
    assert got["r2"] == pytest.approx(sk.r2_score(y, p))
    assert got["residuals"] == [[3.0, 2.5], [-0.5, 0.0], [2.0, 2.0], [7.0, 8.0]]
    assert len(regression_metrics(np.arange(5000.0), np.arange(5000.0))["residuals"]) == 1000


def test_reason_reads_like_a_sentence():
    ok, reason = judge("accuracy", 0.962, {"lower_bound": 0.9, "min_improvement": 0.0}, 0.950)
    assert ok
    assert reason == "accuracy 0.962 vs serving 0.95 (+0.012, required >= 0) and >= 0.9 (absolute)"


def test_lower_is_better_metrics_improve_downwards():
    ok, reason = judge("log_loss", 0.30, {"min_improvement": 0.0}, 0.25)
    assert not ok
    assert reason == ("log_loss 0.3 vs serving 0.25 (+0.05, lower is better, improvement -0.05, "
                      "required >= 0 FAILED)")
    assert judge("log_loss", 0.20, {"min_improvement": 0.0}, 0.25)[0]


def test_relative_change_and_upper_bound():
    assert judge("accuracy", 0.95, {"min_relative_improvement": -0.01}, 0.955)[0]  # -0.5 %
    assert not judge("accuracy", 0.90, {"min_relative_improvement": -0.01}, 0.955)[0]  # -5.8 %
    ok, reason = judge("mae", 2.0, {"upper_bound": 1.5}, None)
    assert not ok and reason == "mae 2 (no model serving) and > 1.5 (absolute)"


def test_first_run_without_baseline_is_blessed_and_says_why():
    ok, reason = judge("accuracy", 0.95, {"lower_bound": 0.9, "min_improvement": 0.0}, None)
    assert ok
    assert reason == "accuracy 0.95 and >= 0.9 (absolute) and min_improvement 0 not applied: no model serving"


CANDIDATE = {"accuracy": 0.80, "auc": 0.9, "precision": 0.8, "recall": 0.8, "log_loss": 0.5}
BASELINE = {"accuracy": 0.95, "auc": 0.99, "precision": 0.95, "recall": 0.95, "log_loss": 0.1}


def test_without_thresholds_a_worse_model_is_not_blessed_and_every_reason_shows_both_values():
    verdict = bless(CANDIDATE, BASELINE, {"metrics": "auto", "thresholds": {}}, "classification")
    assert not verdict["blessed"] and not verdict["forced"] and verdict["compare_metric"] == "accuracy"
    assert set(verdict["reasons"]) == {"accuracy", "auc", "precision", "recall", "log_loss"}
    reason = verdict["reasons"]["accuracy"]
    assert reason == "FAILED: accuracy 0.8 vs serving 0.95 (-0.15, allowed >= -0.001 FAILED)"
    assert verdict["reasons"]["auc"] == "OK: auc 0.9 vs serving 0.99 (-0.09) and no threshold"
    assert verdict["baseline_metrics"]["accuracy"] == 0.95


def test_the_default_comparison_tolerates_its_tolerance_and_can_be_turned_off():
    slightly = {**BASELINE, "accuracy": 0.9495}  # 0.0005 worse: within 0.001
    assert bless(slightly, BASELINE, {"thresholds": {}}, "classification")["blessed"]
    assert not bless({**BASELINE, "accuracy": 0.948}, BASELINE, {"thresholds": {}},
                     "classification")["blessed"]
    assert bless(CANDIDATE, BASELINE, {"thresholds": {}, "compare_metric": None}, "classification")["blessed"]
    assert bless(CANDIDATE, None, {"thresholds": {}}, "classification")["blessed"]  # nothing serving
    regression = {"mse": 1.0, "rmse": 1.0, "mae": 1.0, "r2": 0.5}
    verdict = bless(regression, {**regression, "r2": 0.6}, {"thresholds": {}}, "regression")
    assert verdict["compare_metric"] == "r2" and not verdict["blessed"]
    assert verdict["reasons"]["r2"] == "FAILED: r2 0.5 vs serving 0.6 (-0.1, allowed >= -0.001 FAILED)"


def test_a_regressed_model_is_not_blessed_unless_forced():
    cfg = {"thresholds": {"accuracy": {"min_improvement": -0.01}}}
    verdict = bless(CANDIDATE, BASELINE, cfg, "classification")
    assert not verdict["blessed"]
    reason = verdict["reasons"]["accuracy"]
    assert reason == "FAILED: accuracy 0.8 vs serving 0.95 (-0.15, allowed >= -0.01 FAILED)"
    forced = bless(CANDIDATE, BASELINE, {**cfg, "force_bless": True}, "classification")
    assert forced["blessed"] and forced["forced"]
    assert forced["reasons"]["accuracy"].startswith("FAILED")  # the record keeps the truth


def test_a_metric_of_the_other_task_is_a_clear_error():
    with pytest.raises(ValueError, match="evaluator metric\\(s\\) r2 do not apply to classification"):
        bless(CANDIDATE, None, {"thresholds": {"r2": {"lower_bound": 0.5}}}, "classification")


def _softmax(logits):
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("case", ["absent_class", "never_predicted", "ties", "seed_1", "seed_2"])
def test_macro_metrics_match_scikit_learn_on_edge_cases(case):
    rng = np.random.default_rng(abs(hash(case)) % 1000)
    n, k = 120, 4
    labels = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + np.eye(k)[labels]
    if case == "absent_class":  # class 3 is in the plan but not in the eval labels
        labels = np.where(labels == 3, 0, labels)
    if case == "never_predicted":  # class 2 is never the argmax
        logits[:, 2] = -50
    if case == "ties":  # coarse scores: many ties in every one-vs-rest ranking
        logits = np.round(logits)
    probabilities = _softmax(logits)
    predicted = probabilities.argmax(axis=1)
    got = classification_metrics(labels, probabilities, ["a", "b", "c", "d"])
    seen = sorted(set(labels) | set(predicted))
    assert got["precision"] == pytest.approx(
        sk.precision_score(labels, predicted, labels=seen, average="macro", zero_division=0))
    assert got["recall"] == pytest.approx(
        sk.recall_score(labels, predicted, labels=seen, average="macro", zero_division=0))
    present = sorted(set(labels))
    assert got["auc"] == pytest.approx(np.mean([sk.roc_auc_score(labels == c, probabilities[:, c])
                                                for c in present]))
    if case != "absent_class":  # every class present: scikit-learn's own multi-class AUC
        assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, probabilities, multi_class="ovr"))


def test_a_single_class_in_the_labels_gives_no_auc_and_it_never_passes():
    labels = np.zeros(10, dtype=np.int64)
    probabilities = _softmax(np.random.default_rng(0).normal(size=(10, 2)))
    got = classification_metrics(labels, probabilities, ["no", "yes"])
    with pytest.raises(ValueError):  # scikit-learn refuses it too
        sk.roc_auc_score(labels, probabilities[:, 1])
    assert np.isnan(got["auc"])
    ok, reason = judge("auc", got["auc"], {}, None)
    assert not ok and "not defined" in reason
    ok, _ = judge("auc", got["auc"], {"lower_bound": 0.5}, 0.9)
    assert not ok


def test_relative_improvement_over_a_zero_baseline_is_refused_not_infinite():
    ok, reason = judge("accuracy", 0.9, {"min_relative_improvement": 0.1}, 0.0)
    assert not ok
    assert "relative improvement over a baseline of 0 is undefined" in reason
    ok, _ = judge("accuracy", 0.9, {"min_improvement": 0.1}, 0.0)
    assert ok


def test_the_weak_class_is_shown_beside_the_macro_averages(caplog):
    """A rare positive class (5 of 100): the worst class recall, the majority baseline and a warning."""
    labels = np.array([0] * 95 + [1] * 5)
    p1 = np.array([0.1] * 95 + [0.9, 0.2, 0.2, 0.2, 0.2])  # one of five positives found
    with caplog.at_level("WARNING"):
        got = classification_metrics(labels, np.stack([1 - p1, p1], axis=1), ["No", "Yes"])
    predicted = (p1 > 0.5).astype(int)
    assert got["averaging"] == "macro"
    assert got["worst_class_recall"] == pytest.approx(min(sk.recall_score(labels, predicted, average=None)))
    assert got["worst_class"] == "Yes" and got["worst_class_recall"] == pytest.approx(0.2)
    assert got["majority_baseline_accuracy"] == pytest.approx(sk.accuracy_score(labels, np.zeros(100)))
    assert got["majority_class"] == "No"
    assert "class 'Yes' is only 5.0% of the 100 eval labels" in got["imbalance_warning"]
    assert "class 'Yes' is only 5.0%" in caplog.text
    balanced = classification_metrics(np.array([0, 1, 0, 1]), np.eye(2)[[0, 1, 1, 1]], ["No", "Yes"])
    assert balanced["imbalance_warning"] is None and balanced["majority_baseline_accuracy"] == 0.5
    assert balanced["worst_class_recall"] == 0.5 and balanced["worst_class"] == "No"
