"""A verdict a team can trust (issue 29, items 1-3): never worse than a trivial model, slices, and
the noise in every comparison. The bootstrap and slicing math against plain definitions first,
then real pipeline runs: a noise label is not blessed, a candidate worse on one island is refused
with the island named, and a retrain that differs only by its seed is not refused."""

from __future__ import annotations

import csv
import json
import random
import shutil

import numpy as np
import pyarrow as pa
import pytest

from components.common import serving_dir
from components.evaluator import bootstrap, slices
from components.evaluator import metrics as m
from components.evaluator.executor import bless
from pipelines.runs.summary import latest_run
from tests.conftest import REPO, run_cli, write_spec
from tests.test_data_gate import write_rows

# ---------------------------------------------------------------- the math


def _naive(metric, labels, a, b, resamples=2000, seed=7):
    """candidate - serving over row resamples drawn one at a time: the definition."""
    rng, out = np.random.default_rng(seed), []
    for _ in range(resamples):
        i = rng.integers(0, len(labels), len(labels))
        out.append(metric(labels[i], a[i]) - metric(labels[i], b[i]))
    return np.percentile(out, [2.5, 97.5])


def test_the_paired_bootstrap_matches_resampling_rows_one_by_one():
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.integers(0, 3, n)
    ours, theirs = rng.dirichlet([1, 1, 1], n), rng.dirichlet([1, 1, 1], n)
    ours[np.arange(n), labels] += 0.4
    ours /= ours.sum(axis=1, keepdims=True)
    found = bootstrap.intervals(["accuracy", "log_loss"], labels, ours, theirs, 3, resamples=2000)[0]
    accuracy = _naive(lambda y, p: np.mean(p.argmax(1) == y), labels, ours, theirs)
    assert np.allclose(found["accuracy"], accuracy, atol=0.012), (found["accuracy"], accuracy)
    log_loss = _naive(lambda y, p: -np.mean(np.log(p[np.arange(len(y)), y])), labels, ours, theirs)
    assert np.allclose(found["log_loss"], log_loss, atol=0.03), (found["log_loss"], log_loss)
    y = rng.normal(size=n)
    a, b = y + rng.normal(size=n) * 0.5, y + rng.normal(size=n) * 0.7
    r2 = bootstrap.intervals(["r2"], y, a, b, 0, resamples=2000)[0]["r2"]
    expected = _naive(lambda t, p: 1 - np.mean((p - t) ** 2) / np.var(t), y, a, b)
    assert np.allclose(r2, expected, atol=0.015), (r2, expected)
    # seeded: the same interval twice; the AUC has none
    again = bootstrap.intervals(["accuracy", "auc"], labels, ours, theirs, 3, resamples=2000)[0]
    assert again["accuracy"] == found["accuracy"] and again["auc"] is None


def test_a_large_split_is_resampled_in_groups_and_each_slice_gets_its_own_interval():
    rng = np.random.default_rng(1)
    n = 60_000  # above bootstrap.GROUPS: rows in random groups
    labels = rng.integers(0, 2, n)
    side = rng.integers(0, 2, n)  # slice 1: the candidate is worse there only
    good = np.where(rng.random(n) < 0.9, labels, 1 - labels)
    worse = np.where(side == 1, np.where(rng.random(n) < 0.8, labels, 1 - labels), good)
    eye = np.eye(2)
    found = bootstrap.intervals(["accuracy"], labels, eye[worse], eye[good], 2,
                                [(side, 2)], resamples=1000)
    whole, same, hurt = (f["accuracy"] for f in found)
    assert whole[0] < -0.05 / 2 < whole[1] or whole[1] < 0  # about -0.05 over the split
    assert same == (0.0, 0.0)  # identical predictions on slice 0
    assert -0.115 < hurt[0] < hurt[1] < -0.085  # -0.1, with ~30k rows: about +-0.006
    assert bootstrap.worse_beyond("accuracy", -0.1, hurt, 0.001, "significant")


def test_the_three_rules_read_the_interval_as_documented():
    within = (-0.03, 0.01)  # the point -0.01: within the noise
    assert bootstrap.worse_beyond("accuracy", -0.01, within, 0.001, "point")
    assert not bootstrap.worse_beyond("accuracy", -0.01, within, 0.001, "significant")
    assert bootstrap.worse_beyond("accuracy", -0.01, within, 0.001, "strict")
    # lower is better: a log loss 0.02 higher with its interval above 0 is worse beyond the noise
    assert bootstrap.worse_beyond("log_loss", 0.02, (0.01, 0.03), 0.001, "significant")
    assert not bootstrap.worse_beyond("log_loss", -0.02, (-0.03, -0.01), 0.001, "strict")


def test_slices_by_value_by_quantile_bucket_and_missing():
    words = slices.slicing("island", pa.array([b"Dream", b"Biscoe", None, b"Dream"]))
    assert words.names == ["Biscoe", "Dream", "(missing)"] and words.ids.tolist() == [1, 0, 2, 1]
    years = slices.slicing("year", pa.array([2009, 2007, 2008, 2007, None]))
    assert years.names == ["2007", "2008", "2009", "(missing)"] and years.how == "by value"
    rng = np.random.default_rng(0)
    mass = slices.slicing("mass", pa.array(rng.normal(size=1000)), buckets=4)
    assert mass.how == "4 quantile buckets" and np.bincount(mass.ids).tolist() == [250] * 4


@pytest.mark.parametrize("classes", [2, 3])
def test_every_metric_per_slice_equals_the_metric_of_that_slices_rows(classes):
    rng = np.random.default_rng(classes)
    n = 3000
    labels = rng.integers(0, classes, n)
    probabilities = np.round(rng.dirichlet([1] * classes, n), 2)  # rounded: tied scores
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    ids = np.minimum(rng.integers(0, 5, n), 3)  # value 4 has no rows
    names = [str(c) for c in range(classes)]
    found, again = slices.classification_by_slice([(ids, 5), (ids, 5)], labels, probabilities, names)
    assert found[:4] == again[:4]  # (value 4: NaN)
    for s in range(4):
        expected = m.classification_metrics(labels[ids == s], probabilities[ids == s], names)
        for key in ("accuracy", "auc", "precision", "recall", "log_loss", "examples"):
            assert found[s][key] == pytest.approx(expected[key]), (s, key)
    assert found[4]["examples"] == 0 and np.isnan(found[4]["accuracy"])
    y = rng.normal(size=n)
    predictions = y + rng.normal(size=n)
    found = slices.regression_by_slice(ids, 4, y, predictions)
    expected = m.regression_metrics(y[ids == 2], predictions[ids == 2])
    for key in ("mse", "rmse", "mae", "r2", "examples"):
        assert found[2][key] == pytest.approx(expected[key]), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_per_slice_auc_of_float32_scores_with_ties_nan_and_many_slices_equals_each_slices_auc(dtype):
    """The fast path: float32 scores (float64 ones holding float32 values) are ordered by a radix
    sort of their bits; ties across and within slices, a NaN score (its slice's AUC is NaN, as the
    whole split's), more than 256 slice values (16-bit ids) and slices of one class."""
    rng = np.random.default_rng(11)
    n, k = 6000, 3
    labels = rng.integers(0, k, n)
    probabilities = rng.dirichlet([1] * k, n).astype(np.float32)
    probabilities[: n // 2] = np.round(probabilities[: n // 2], 1)  # half of them tied
    probabilities = probabilities.astype(dtype)
    probabilities[17, 2] = np.nan
    ids = rng.integers(0, 300, n)
    ids[labels == 0] = np.where(ids[labels == 0] == 299, 298, ids[labels == 0])  # slice 299: no class 0
    names = [str(c) for c in range(k)]
    found = slices.classification_by_slice([(ids, 301)], labels, probabilities, names)[0]
    for s in (int(ids[17]), 0, 5, 298, 299):
        expected = m.classification_metrics(labels[ids == s], probabilities[ids == s], names)
        assert found[s]["auc"] == pytest.approx(expected["auc"], nan_ok=True), s
    assert np.isnan(found[int(ids[17])]["auc"]) and not np.isnan(found[299]["auc"])
    assert found[300]["examples"] == 0 and np.isnan(found[300]["auc"])


def test_scores_are_ordered_by_value_whatever_their_sign():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        scores = np.concatenate([rng.normal(size=3000) * 10.0 ** rng.integers(-30, 30, 3000),
                                 [0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-40]]).astype(dtype)
        scores = np.concatenate([scores, scores[:500]])  # ties
        order, ordered = slices.score_order(scores)
        assert ordered.dtype == dtype and np.array_equal(ordered, np.sort(scores))
        assert np.array_equal(scores[order], ordered)
        assert np.array_equal(np.sort(order), np.arange(len(scores)))
    exact = rng.random(100)  # float64 values that are not float32 ones: ordered as float64
    assert np.array_equal(slices.score_order(exact)[1], np.sort(exact))


def test_the_evaluator_reads_each_rows_first_slice_value_null_where_the_cell_is_empty():
    import tensorflow as tf

    from components.evaluator.executor import first_values

    def example(**features):
        return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()

    def words(*values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    def numbers(*values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

    records = [example(island=words(b"Dream"), mass=numbers(3.5, 9.0)),
               example(island=words(), mass=numbers()), example(),
               example(island=words(b"Biscoe", b"Dream"), mass=numbers(4.25))]
    parsed = tf.io.parse_example(tf.constant(records), {"island": tf.io.RaggedFeature(tf.string),
                                                        "mass": tf.io.RaggedFeature(tf.float32)})
    assert first_values(parsed["island"]).to_pylist() == [b"Dream", None, None, b"Biscoe"]
    assert first_values(parsed["mass"]).to_pylist() == [3.5, None, None, 4.25]


def test_a_model_no_better_than_always_answering_the_majority_is_refused_and_says_so():
    labels = np.array([0] * 90 + [1] * 10)
    probabilities = np.tile([0.8, 0.2], (100, 1))
    probabilities[:5] = [0.3, 0.7]  # 5 of the common class called rare: accuracy 0.85 < 0.90
    candidate = m.classification_metrics(labels, probabilities, ["common", "rare"])
    trivial = m.trivial(labels, ["common", "rare"])
    assert trivial["accuracy"] == 0.9
    assert trivial["log_loss"] == pytest.approx(-(0.9 * np.log(0.9) + 0.1 * np.log(0.1)))
    verdict = bless(candidate, None, {}, "classification", trivial=trivial)
    assert not verdict["blessed"]
    reason = verdict["reasons"]["accuracy vs trivial"]
    assert reason.startswith("FAILED: accuracy 0.85 vs trivial 0.9 (-0.05") and "always 'common'" in reason
    off = bless(candidate, None, {"beat_trivial": False}, "classification", trivial=trivial)
    assert off["blessed"] and off["beat_trivial"] is False
    assert "not applied: evaluator.beat_trivial is false" in off["reasons"]["accuracy vs trivial"]
    regression = m.regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    verdict = bless(regression, None, {}, "regression", trivial=m.trivial(np.array([1.0, 2.0, 3.0]), None))
    assert not verdict["blessed"]
    assert verdict["reasons"]["r2 vs trivial"].startswith("FAILED: r2 -3 vs trivial 0")


def test_slices_are_judged_on_the_compare_metric_and_small_ones_are_listed_not_judged():
    def entry(value, rows, ours, theirs, interval):
        return {"feature": "island", "value": value, "rows": rows, "candidate": {"accuracy": ours},
                "baseline": {"accuracy": theirs}, "intervals": {"accuracy": interval}}

    whole = {"accuracy": 0.95, "auc": 0.99, "precision": 0.95, "recall": 0.95, "log_loss": 0.1}
    found = [entry("Biscoe", 50, 0.80, 0.98, (-0.30, -0.06)), entry("Dream", 40, 0.97, 0.98, (-0.05, 0.03)),
             entry("Torgersen", 12, 0.5, 1.0, (-0.8, -0.2))]
    verdict = bless(whole, whole, {}, "classification", intervals={"accuracy": (-0.01, 0.01)}, slices=found)
    assert not verdict["blessed"]
    assert verdict["reasons"]["slice island=Biscoe"].startswith(
        "FAILED: island=Biscoe (50 rows): accuracy 0.8 vs serving 0.98 (-0.18, 95% CI -0.3..-0.06, "
        "allowed >= -0.001 at the CI's upper end FAILED)")
    assert "slice island=Dream" not in verdict["reasons"]  # within its noise
    line = verdict["reasons"]["slices"]
    assert line.startswith("FAILED: 2 slice(s) judged, 1 failed; worst: island=Biscoe")
    assert line.endswith("not judged (fewer than 30 rows): island=Torgersen (12)")
    # a per-slice threshold replaces the default comparison for that slice
    custom = {"slice_thresholds": {"island=Biscoe": {"accuracy": {"lower_bound": 0.75}}}}
    assert bless(whole, whole, custom, "classification", slices=found)["blessed"]


# ---------------------------------------------------------------- real runs



def _noise_csv(path, rows=3000):
    rng = random.Random(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x1", "x2", "x3", "x4", "label"])
        for _ in range(rows):
            writer.writerow([f"{rng.gauss(0, 1):.5f}" for _ in range(4)]
                            + ["common" if rng.random() < 0.9 else "rare"])


@pytest.mark.slow
@pytest.mark.e2e
def test_a_model_of_a_noise_label_is_not_blessed_nor_pushed_and_the_report_says_why(tmp_path):
    _noise_csv(tmp_path / "data" / "noise.csv")
    spec = write_spec(tmp_path, f"name: noise\ndata: {{path: {tmp_path / 'data'}, label: label}}\n")
    result = run_cli("--config", str(spec), "--root", str(tmp_path / "root"))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = latest_run(str(tmp_path / "root" / "metadata.sqlite"))
    assert summary.blessed is False, result.stdout
    failed = {k: v for k, v in summary.reasons.items() if v.startswith("FAILED")}
    assert set(failed) <= {"accuracy vs trivial", "log_loss vs trivial"} and failed, summary.reasons
    assert any("vs trivial" in v and ("always 'common'" in v or "class priors" in v) for v in failed.values())
    assert "not pushed: not blessed" in result.stdout and "vs trivial" in result.stdout
    serving = tmp_path / "root" / "serving"
    assert not serving.exists() or serving_dir.versions(str(serving)) == []
    page = next((tmp_path / "root" / "reports").glob("*.html")).read_text()
    assert "task: <b>classification</b>" in page and "always predicting &#39;common&#39;" in page
    assert "id='imbalance-warning'" in page and "Against a trivial model" in page


def _scramble_biscoe(rows):
    rng = random.Random(1)
    return [{**r, "species": rng.choice(["Adelie", "Gentoo", "Chinstrap"])} if r["island"] == "Biscoe" else r
            for i, r in enumerate(rows) if i % 3]


def _clean_train(rows):
    return [r for i, r in enumerate(rows) if i % 3]


def _eval(rows):
    return [r for i, r in enumerate(rows) if i % 3 == 0]


SCHEMA = REPO / "schemas" / "penguin" / "schema.pbtxt"
SPEC = """name: {name}
data:
  path: {data}
  label: species
  exclude: [year]
  split_patterns: {{train: "train/*.csv", eval: "eval/*.csv"}}
schema: {{path: {schema}}}
trainer: {{max_epochs: 40, seed: {seed}}}
evaluator: {{slices: [island, sex, year]}}
pusher: {{destination: {serving}}}
runtime: {{root: {root}}}
"""


@pytest.fixture(scope="module")
def serving_clean(tmp_path_factory):
    """A model trained on the clean train rows (seed 0), pushed: the serving model both
    candidates below are compared with, on the same eval rows."""
    tmp = tmp_path_factory.mktemp("slices")
    write_rows(tmp / "clean" / "train" / "penguins.csv", _clean_train)
    write_rows(tmp / "clean" / "eval" / "penguins.csv", _eval)
    spec = write_spec(tmp, SPEC.format(name="clean", data=tmp / "clean", schema=SCHEMA, seed=0,
                                       serving=tmp / "serving", root=tmp / "root0"))
    result = run_cli("--config", str(spec))
    assert result.returncode == 0 and "pushed:" in result.stdout, result.stdout + result.stderr
    return tmp


def _candidate(tmp, name, data, seed):
    serving = tmp / f"serving-{name}"
    shutil.copytree(tmp / "serving", serving)  # each candidate against the same serving version
    spec = write_spec(tmp, SPEC.format(name=name, data=data, schema=SCHEMA, seed=seed, serving=serving,
                                       root=tmp / f"root-{name}"), f"{name}.yaml")
    result = run_cli("--config", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    return result, latest_run(str(tmp / f"root-{name}" / "metadata.sqlite")), serving


@pytest.mark.slow
@pytest.mark.e2e
def test_a_candidate_worse_on_one_island_only_is_refused_with_the_island_named(serving_clean):
    tmp = serving_clean
    write_rows(tmp / "biscoe" / "train" / "penguins.csv", _scramble_biscoe)
    write_rows(tmp / "biscoe" / "eval" / "penguins.csv", _eval)
    result, summary, serving = _candidate(tmp, "biscoe", tmp / "biscoe", 0)
    assert summary.blessed is False, result.stdout
    reason = summary.reasons.get("slice island=Biscoe", "")
    assert reason.startswith("FAILED: island=Biscoe (") and "95% CI" in reason, summary.reasons
    assert "worst: island=Biscoe" in summary.reasons["slices"]
    assert not any(k.startswith("slice island=Dream") for k in summary.reasons)  # clean island: not refused
    assert serving_dir.versions(str(serving)) == [1]
    metrics = json.loads(next((tmp / "root-biscoe").glob("pipeline/Evaluator/evaluation/*/metrics.json"))
                         .read_text())
    biscoe = next(s for s in metrics["slices"] if s["feature"] == "island" and s["value"] == "Biscoe")
    assert biscoe["rows"] >= 30 and biscoe["baseline"]["accuracy"] > biscoe["candidate"]["accuracy"]
    assert {"accuracy", "auc", "log_loss", "precision", "recall"} <= set(biscoe["candidate"])
    page = next((tmp / "root-biscoe" / "reports").glob("*.html")).read_text()
    assert "id='slices'" in page and "id='slice-intervals'" in page and "island=Biscoe" in page


@pytest.mark.slow
@pytest.mark.e2e
def test_a_retrain_that_differs_only_by_its_seed_is_not_refused_by_any_slice(serving_clean):
    result, summary, serving = _candidate(serving_clean, "seed", serving_clean / "clean", 3)
    assert summary.blessed is True, result.stdout
    assert not [k for k, v in summary.reasons.items() if v.startswith("FAILED")], summary.reasons
    assert summary.reasons["slices"].startswith("OK: ") and "95% CI" in summary.reasons["accuracy"]
    assert serving_dir.versions(str(serving)) == [1, 2]
