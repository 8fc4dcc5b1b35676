"""The Tuner's work: a KerasTuner search whose every trial is the Trainer's own model, optimizer,
data pipeline and early stopping with the trial's values (components.trainer.hyperparameters
applies them), scored by the spec's objective on the validation split (carved from the train
rows by Batching; the eval split is the Evaluator's alone)."""

from __future__ import annotations

import json
import math
import tempfile
from typing import Any

import keras_tuner as kt
from absl import logging
from tfx.dsl.components.base import base_executor

from components.common import io, payloads, progress
from components.common.configs import TrainerConfig, TunerConfig
from components.common.features import FeaturePlan
from components.common.keys import BATCHES_KEY, BEST_HYPERPARAMETERS_KEY, CONFIG_KEY, TUNER_RESULTS_KEY
from components.trainer import callbacks as cb
from components.trainer.backend import keras
from components.trainer.executor import read_batches
from components.trainer.hyperparameters import BEST_FILE, apply, decode
from components.trainer.model import build_model, compile_model, resolve_head
from components.trainer.registry import get_optimizer
from pipelines.spec.models import FloatRange, TunerSection


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        cfg = TunerConfig.model_validate_json(exec_properties[CONFIG_KEY])
        search = cfg.tuner
        batches_uri = input_dict[BATCHES_KEY][0].uri
        plan = FeaturePlan.from_json(payloads.read_plan_json(batches_uri))
        hypermodel = TrainerModel(cfg.trainer, search, plan, batches_uri)
        direction = cb.monitor_mode(search.objective, "auto")
        common = {"objective": kt.Objective(search.objective, direction), "seed": search.seed,
                  "overwrite": True, "project_name": "search"}
        epochs = cfg.trial_epochs
        with tempfile.TemporaryDirectory() as local:  # KerasTuner keeps its trials on a local disk
            if search.algorithm == "hyperband":
                tuner = kt.Hyperband(hypermodel, max_epochs=epochs, directory=local, **common)
            elif search.algorithm == "bayesian":
                tuner = kt.BayesianOptimization(hypermodel, max_trials=search.max_trials, directory=local,
                                                **common)
            else:
                tuner = kt.RandomSearch(hypermodel, max_trials=search.max_trials, directory=local, **common)
            tuner.search(epochs=epochs, verbose=0)
            tried = len(tuner.oracle.trials)
            trials = [t for t in tuner.oracle.get_best_trials(tried) if t.score is not None]
            if not trials:
                raise RuntimeError(f"the Tuner finished no trial: every one of the {tried} trials failed "
                                   "(see run.log)")
            best = trials[0].hyperparameters
        results = [{"rank": i + 1, "trial": t.trial_id, search.objective: t.score,
                    "values": decode(t.hyperparameters.values)} for i, t in enumerate(trials)]
        io.write_text(io.join(output_dict[BEST_HYPERPARAMETERS_KEY][0].uri, BEST_FILE),
                      json.dumps(best.get_config()))
        payloads.write_tuner_results(output_dict[TUNER_RESULTS_KEY][0].uri, results)
        io.write_text(io.join(output_dict[TUNER_RESULTS_KEY][0].uri, "trials.txt"), trials_table(results,
                                                                                                search.objective))
        logging.info("Tuner: best of %d trials: %s", len(results), json.dumps(results[0]))


def trials_table(results: list[dict], objective: str) -> str:
    """The trials, best first, as a plain-text table."""
    keys = sorted({k for r in results for k in r["values"]})
    rows = [["rank", objective, *keys]] + [
        [str(r["rank"]), f"{r[objective]:.5g}", *(_show(r["values"].get(k)) for k in keys)] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows) + "\n"


def _show(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class TrainerModel(kt.HyperModel):
    """The Trainer's model with one trial's values: KerasTuner calls build() then fit()."""

    def __init__(self, trainer: TrainerConfig, search: TunerSection, plan: FeaturePlan, batches_uri: str):
        super().__init__()
        self.trainer, self.search, self.plan, self.batches_uri = trainer, search.search, plan, batches_uri
        self.objective = search.objective
        self.better = min if cb.monitor_mode(self.objective, "auto") == "min" else max
        self.head = resolve_head(plan, trainer)
        self.eval_data = None

    def values(self, hp: kt.HyperParameters) -> dict:
        """The trial's value of every searched field (declared on first use)."""
        chosen = {}
        for name, space in self.search:  # the SearchSpace's fields; None: not searched
            if space is None:
                continue
            if isinstance(space, FloatRange):
                chosen[name] = hp.Float(name, space.min, space.max, sampling="log" if space.log else "linear")
            elif name == "hidden_units":  # choices must be scalars: "64,32"
                choice = hp.Choice(name, [",".join(map(str, c)) for c in space])
                chosen[name] = [int(u) for u in choice.split(",")]
            else:
                chosen[name] = hp.Choice(name, space)
        return chosen

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        cfg = apply(self.trainer, self.values(hp))
        keras.utils.set_random_seed(cfg.seed)
        model = build_model(self.plan.width, self.head, cfg)
        compile_model(model, self.head, get_optimizer(cfg.optimizer))
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args, callbacks=None, epochs=None, **kwargs):
        cfg = apply(self.trainer, self.values(hp))
        train = read_batches(self.batches_uri, "train", self.plan, self.head, shuffle_seed=cfg.seed,
                             batch_size=cfg.batch_size, drop_remainder=cfg.drop_remainder)
        if self.eval_data is None:
            self.eval_data = read_batches(self.batches_uri, "validation", self.plan, self.head)
        callbacks = list(callbacks or [])
        if cfg.early_stopping:
            callbacks.append(cb.early_stopping(cfg.early_stopping))
        history = model.fit(train, validation_data=self.eval_data, epochs=epochs, callbacks=callbacks,
                            verbose=0)
        finite = [s for s in history.history.get(self.objective, []) if math.isfinite(s)]
        progress.say("Tuner: trial %s: best %s %s", json.dumps(self.values(hp)), self.objective,
                     f"{self.better(finite):.4g}" if finite else "none (not finite)")
        return history
