"""trainer.model.type: gradient-boosted trees (TF-DF / YDF), the linear model and `auto`, through
real pipeline runs on the penguins: trained, evaluated, pushed, and the pushed version reloaded
through its serving signature with raw tf.Examples (the trees in a fresh process, which must
register TF-DF's ops first, as the Evaluator and the Pusher's checks do)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.runs.summary import latest_run
from pipelines.spec.loader import parse_spec
from tests.conftest import PENGUIN_CSV, REPO, run_cli
from tests.test_e2e_penguin import KNOWN, tf_example


def run_family(tmp_path_factory, name: str, trainer: str, label: str = "species", data: str = ""):
    root = tmp_path_factory.mktemp(name)
    spec = root / "pipeline.yaml"
    spec.write_text(f"name: {name}\ndata: {{path: {PENGUIN_CSV}, label: {label}, exclude: [year]{data}}}\n"
                    f"trainer: {trainer}\nruntime: {{root: {root / 'root'}}}\n", encoding="utf-8")
    result = run_cli("--config", str(spec))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root / "root", result.stdout


def history(root: Path) -> dict:
    return json.loads(next((root / "pipeline" / "Trainer" / "model_run").glob("*/history.json")).read_text())


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    return run_family(tmp_path_factory, "penguin-trees", "{model: {type: gradient_boosted_trees}}")


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    return run_family(tmp_path_factory, "penguin-linear", "{model: {type: linear}}")


@pytest.fixture(scope="module")
def auto(tmp_path_factory):
    # a short network (max_epochs 15) keeps auto's cross-validation quick; the choice is what is tested
    return run_family(tmp_path_factory, "penguin-auto", "{model: {type: auto}, max_epochs: 15}")


SERVE = """
import json, sys
import tensorflow as tf
from components.common import forest_ops
examples = [bytes.fromhex(h) for h in json.loads(sys.argv[2])]
if sys.argv[3] == "register":
    forest_ops.register()
try:
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
except Exception as error:
    print(json.dumps({"error": str(error)[:300]}))
    sys.exit(0)
out = serve(examples=tf.constant(examples))
print(json.dumps({"classes": [c.decode() for c in out["classes"].numpy()],
                  "probabilities": out["probabilities"].numpy().tolist()}))
"""


def serve_in_fresh_process(version: Path, register: bool) -> dict:
    examples = json.dumps([tf_example(f).hex() for f, _ in KNOWN])
    result = subprocess.run([sys.executable, "-c", SERVE, str(version), examples,
                             "register" if register else "no"], capture_output=True, text=True, cwd=REPO,
                            env={"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "PATH": "/usr/bin:/bin"},
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_trees_are_trained_evaluated_pushed_and_served_from_raw_examples_in_a_fresh_process(trees):
    root, stdout = trees
    summary = latest_run(str(root / "metadata.sqlite"))
    assert summary.blessed is True and summary.metrics["accuracy"] >= 0.95
    assert f"pushed: {root / 'serving' / '1'}" in stdout
    found = history(root)
    assert found["model_type"] == "gradient_boosted_trees"
    # boosting stopped on the validation split, well before num_trees
    assert 1 <= found["trees"]["iterations_kept"] < found["trees"]["num_trees_max"] == 300
    assert "validation split" in found["stop_reason"]
    served = serve_in_fresh_process(root / "serving" / "1", register=True)
    assert served["classes"] == [s for _, s in KNOWN]
    assert np.allclose(np.sum(served["probabilities"], axis=1), 1.0, atol=1e-5)
    # without TF-DF's ops the version does not load: what forest_ops.register is for
    assert "SimpleML" in serve_in_fresh_process(root / "serving" / "1", register=False)["error"]


@pytest.mark.slow
def test_linear_is_the_head_alone_with_its_penalty_chosen_by_cross_validation(linear):
    import tensorflow as tf

    root, _ = linear
    summary = latest_run(str(root / "metadata.sqlite"))
    assert summary.blessed is True and summary.metrics["accuracy"] >= 0.95
    found = history(root)
    assert found["model_type"] == "linear" and "cross-validation" in found["linear"]["chosen_by"]
    assert found["linear"]["held_out_loss"] == min(loss for _, loss in found["linear"]["l2_tried"])
    model = tf.saved_model.load(str(root / "serving" / "1"))
    shapes = sorted(tuple(v.shape) for v in model.model_variables)
    assert shapes == [(3,), (11, 3)]  # one dense layer: 4 numbers + island (3+1) + sex (2+1) -> 3 classes
    out = model.signatures["serving_default"](examples=tf.constant([tf_example(f) for f, _ in KNOWN]))
    assert [c.decode() for c in out["classes"].numpy()] == [s for _, s in KNOWN]


@pytest.mark.slow
def test_auto_records_every_family_score_and_trains_the_best(auto):
    root, stdout = auto
    found = history(root)
    choice = found["model_choice"]
    assert set(choice["scores"]) == {"linear", "gradient_boosted_trees", "dnn"}
    means = {family: s["mean"] for family, s in choice["scores"].items()}
    assert choice["chosen"] == found["model_type"] and means[choice["chosen"]] == max(means.values())
    assert all(len(s["folds"]) == 3 for s in choice["scores"].values())  # cross-validation below the bound
    assert "plan: model type auto: " + choice["chosen"] in stdout
    assert latest_run(str(root / "metadata.sqlite")).blessed is True


@pytest.mark.slow
def test_trees_regression_serves_values_in_the_labels_units(tmp_path_factory):
    root, _ = run_family(tmp_path_factory, "penguin-mass", "{model: {type: gradient_boosted_trees}}",
                         label="body_mass_g", data=", drop_unlabeled: true")  # 2 penguins were not weighed
    summary = latest_run(str(root / "metadata.sqlite"))
    assert summary.metrics["r2"] >= 0.7
    import tensorflow as tf

    from components.common import forest_ops

    forest_ops.register()
    serve = tf.saved_model.load(str(root / "serving" / "1")).signatures["serving_default"]
    grams = serve(examples=tf.constant([tf_example({k: v for k, v in f.items() if k != "body_mass_g"})
                                        for f, _ in KNOWN]))["prediction"].numpy()
    assert ((grams > 2500) & (grams < 6500)).all()


def test_unknown_type_and_a_tuner_on_trees_are_refused_with_the_fix():
    base = f"name: x\ndata: {{path: {PENGUIN_CSV}, label: species}}\n"
    with pytest.raises(Exception, match="gradient_boosted_trees"):
        parse_spec(base + "trainer: {model: {type: gbm}}\n")
    tuner = "tuner: {search: {learning_rate: [0.01, 0.1]}}\n"
    with pytest.raises(Exception, match="trainer.model.type: dnn or linear"):
        parse_spec(base + "trainer: {model: {type: gradient_boosted_trees}}\n" + tuner)
    assert parse_spec(base).trainer.model.type == "dnn"


def test_the_trees_class_order_follows_the_plan():
    from components.trainer.families import class_matrix

    class Model:  # YDF orders classes its own way: by the names it was given
        @staticmethod
        def label_classes():
            return ["2", "0"]  # class 1 absent from the train rows

    class Plan:
        classes = ("a", "b", "c")

    assert class_matrix(Model, Plan).tolist() == [[0, 0, 1], [1, 0, 0]]
