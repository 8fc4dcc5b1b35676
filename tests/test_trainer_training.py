"""The Trainer on the penguin pipeline's real batches: every optimizer learns, bad settings fail
clearly, and distributed training matches single-device training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.batching.executor import PLAN_FILE
from components.common.configs import TrainerConfig
from components.common.features import FeaturePlan
from components.trainer.executor import TrainingError, train
from components.trainer.model import resolve_head

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batches(penguin_run) -> str:
    found = sorted((penguin_run.root / "pipeline" / "Batching" / "batches").glob("*"))
    assert found, "the penguin run wrote no batches"
    return str(found[-1])


def train_with(batches: str, tmp_path, **trainer):
    # batch_size: the penguin spec's, which made `batches`
    cfg = TrainerConfig(**trainer, batch_size=16, drop_remainder=False, destination=None)
    plan = FeaturePlan.from_json(Path(batches, PLAN_FILE).read_text())
    head = resolve_head(plan, cfg)
    return train(cfg, plan, head, batches, str(tmp_path))


@pytest.mark.parametrize(("optimizer", "learning_rate"), [
    ("sgd", 0.1), ("momentum", 0.05), ("adam", 0.01), ("adamw", 0.01),
    ("adagrad", 0.1), ("adadelta", 1.0), ("rmsprop", 0.005),
])
def test_every_optimizer_trains_above_the_accuracy_bar(batches, tmp_path, optimizer, learning_rate):
    _, history, stop = train_with(batches, tmp_path, max_epochs=40,
                                  optimizer={"name": optimizer, "learning_rate": learning_rate})
    best = max(h["val_accuracy"] for h in history)
    assert best >= 0.90, f"{optimizer}: best val_accuracy {best:.3f} ({stop['stop_reason']})"


@pytest.mark.parametrize(("loss", "activation"), [
    ("categorical_crossentropy", "tanh"), ("kl_divergence", "elu"), ("mse", "leaky_relu"),
])
def test_other_losses_and_activations_train(batches, tmp_path, loss, activation):
    _, history, _ = train_with(batches, tmp_path, loss=loss, max_epochs=40,
                               model={"hidden_units": [16], "activation": activation})
    assert max(h["val_accuracy"] for h in history) >= 0.90


def test_non_finite_loss_fails_the_run_with_a_clear_message(batches, tmp_path):
    with pytest.raises(TrainingError,
                       match=r"the loss became (nan|inf).*Lower trainer.optimizer.learning_rate"):
        train_with(batches, tmp_path, max_epochs=10, early_stopping=None,
                   model={"hidden_units": [64, 64], "activation": "linear"},
                   optimizer={"name": "sgd", "learning_rate": 1e20})


def _distributed(batches: str, tmp_path: Path, distribution: str, cpus: int = 1, env=None, name=None):
    out = tmp_path / f"{name or distribution}.json"
    command = [sys.executable, str(REPO / "tests" / "distributed_train.py"), batches, distribution, str(out),
               "--cpus", str(cpus)]
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True), out


def _result(process, out: Path) -> dict:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    return json.loads(out.read_text())


def test_mirrored_on_two_logical_cpus_matches_one_device(batches, tmp_path):
    single = _result(*_distributed(batches, tmp_path, "one_device"))
    mirrored = _result(*_distributed(batches, tmp_path, "mirrored", cpus=2))
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    assert mirrored["val_accuracy"] >= 0.9 and single["val_accuracy"] >= 0.9
    # Same data, order and global batch: the same model up to float summation order.
    assert abs(mirrored["val_loss"] - single["val_loss"]) < 0.05, (single, mirrored)


def test_multi_worker_with_two_processes_on_localhost_matches_one_device(batches, tmp_path):
    import portpicker

    workers = [f"localhost:{portpicker.pick_unused_port()}" for _ in range(2)]
    runs = [_distributed(batches, tmp_path, "multi_worker", name=f"worker{i}", env={"TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}) for i in range(2)]
    chief, other = (_result(*run) for run in runs)
    single = _result(*_distributed(batches, tmp_path, "one_device"))
    assert chief["replicas"] == 2
    assert chief == other  # synchronous training: both workers end with the same model
    assert chief["val_accuracy"] >= 0.9
    # Each worker takes every other mini-batch (the global batch doubles, the steps halve): the same
    # model as on one device up to that, within 0.05 of validation loss.
    assert abs(chief["val_loss"] - single["val_loss"]) < 0.05, (single, chief)
