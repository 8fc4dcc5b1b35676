"""Typed model of a pipeline YAML file.

This layer knows nothing of TFX or TensorFlow: it only describes what the user asked for and
refuses what cannot work. The compiler turns a `PipelineSpec` into a TFX pipeline.
"""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from pipelines.core import cron
from pipelines.core.uris import has_scheme
from pipelines.core.version import package_version

LOSSES = (
    "mse",
    "mae",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
)
ACTIVATIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "gelu", "linear")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "adagrad", "adadelta", "rmsprop")
CLASSIFICATION_METRICS = ("accuracy", "auc", "precision", "recall", "log_loss")
REGRESSION_METRICS = ("mse", "rmse", "mae", "r2")
# Metrics where a lower value is better; every other metric is better when higher.
LOWER_IS_BETTER = frozenset({"log_loss", "mse", "rmse", "mae", "loss"})
DISTRIBUTIONS = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
TASKS = ("classification", "regression")
MODEL_TYPES = ("dnn", "linear", "gradient_boosted_trees")  # trainer.model.type, besides "auto"
# What "auto" means once the task is known: the one home of each choice (TrainerSection.for_task,
# EvaluatorSection.for_task). The compiler records the choices in the stage configs when it reads
# the label; otherwise the Trainer, Tuner and Evaluator apply the same methods to Batching's task.
AUTO_LOSS = {"classification": "sparse_categorical_crossentropy", "regression": "mse"}
AUTO_METRICS = {"classification": ("accuracy",), "regression": ("mae",)}  # compiled into the model
AUTO_EVALUATOR_METRICS = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}
AUTO_COMPARE_METRIC = {"classification": "accuracy", "regression": "r2"}

# Schemes a path in a spec may use (besides local paths): what TFX's file layer and Beam read.
URI_SCHEMES = ("gs", "s3", "hdfs")
# The rules behind the `pattern=` of string fields, in words, for error messages (by field name).
PATTERN_RULES = {
    "name": "letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters (TFX's "
            "limit), e.g. 'penguin_daily'; Kubeflow gets it lower-cased with '-' for '_' (penguin-daily)",
    "cpu": "a number of cores, or thousandths of a core with 'm' (Kubernetes units), e.g. '4', '0.5', '500m'",
    "memory": "a number with an optional unit Ki, Mi, Gi, Ti (powers of 2) or K, M, G, T, "
              "e.g. '16Gi', '512Mi'",
    "endpoint": "an http:// or https:// URL with a host and optional port, "
                "e.g. 'http://minio-service.kubeflow:9000'",
    "credentials_secret": "a Kubernetes secret name: lower-case letters, digits, '-' and '.'",
    "database": "letters, digits, '_' and '$', at most 64 characters (MySQL's rule), e.g. 'ml_metadata'",
    "password_env": "an environment variable name that starts with 'MLMD_' (letters, digits, '_'), e.g. "
                    "'MLMD_PASSWORD': only variables meant for ML Metadata may be sent to "
                    "runtime.metadata.host, not any secret of the environment (AWS_SECRET_ACCESS_KEY, ...)",
}
# Upper bounds on the numbers that size work, with the reason (by field name) for error messages:
# a typo or a hostile spec must not ask for a billion of anything after passing `check`.
_SEED = "seeds are 32-bit in TensorFlow and NumPy (0 to 2**31 - 1); use a smaller seed"
_EPOCHS = "each epoch reads the whole train split, and early stopping ends training sooner"
_BATCH = "a batch is held in memory at once (and on the accelerator); larger batches are a typo or too big"
WORK_BOUNDS = {
    "batch_size": _BATCH, "eval_batch_size": _BATCH,
    "max_epochs": _EPOCHS, "epochs": _EPOCHS,
    "hidden_units": "a dense layer of N units holds N x its inputs weights (1e9 units would need terabytes), "
                    "and more than 32 layers do not train as a plain MLP; use at most 16384 units and 32 "
                    "layers",
    "output_units": "the output layer has one unit per class, and more than 10000 classes cannot be told "
                    "apart by this model (or the report's per-class tables)",
    "max_vocabulary": "each string value becomes one column of every example (one-hot); more values than "
                      "this belong in an embedding, not here",
    "max_trials": "each trial trains a model",
    "span_window": "each span in the window is read on every run",
    "max_columns": "every column is a feature in every stage; Arrow's CSV reader crashed on a row of "
                   "~320,000 fields",
    "train": "hash buckets of ExampleGen's split; ratios need no more than 1000 buckets",
    "eval": "hash buckets of ExampleGen's split; ratios need no more than 1000 buckets",
    "patience": _EPOCHS, "start_from_epoch": _EPOCHS, "cooldown": _EPOCHS,
    "max_restarts": "each restart trains again from the best weights",
    "seed": _SEED, "shuffle_seed": _SEED,
    "accelerator_count": "no node has more than 64 accelerators",
}
MAX_SEED = 2**31 - 1
MAX_UNITS = 16_384
MAX_LAYERS = 32
MAX_BATCH = 65_536
MAX_EPOCHS = 10_000


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """"; did you mean 'x'?" for the closest allowed name, or "" (the one home of this hint)."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def check_uri(path: str, key: str) -> None:
    """Local paths, or URIs of a scheme the file layer reads."""
    if has_scheme(path):
        scheme = path.split("://", 1)[0]
        if scheme not in URI_SCHEMES and scheme != "file":
            raise ValueError(f"{key}: the scheme {scheme}:// is not supported; use a local path or "
                             f"{', '.join(s + '://' for s in URI_SCHEMES)}")


def check_inside(relative: str, key: str, inside: str) -> None:
    """A relative path that must stay inside the place the spec declares for it."""
    parts = relative.replace("\\", "/").split("/")
    if relative.startswith("/") or ".." in parts:
        raise ValueError(f"{key}: {relative!r} leaves {inside}; it must be a relative path inside it "
                         "(no '..', no leading '/')")


Activation = Literal[ACTIVATIONS]  # type: ignore[valid-type]
OptimizerName = Literal[OPTIMIZERS]  # type: ignore[valid-type]
Metric = Literal[CLASSIFICATION_METRICS + REGRESSION_METRICS]  # type: ignore[valid-type]


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment."""

    # strict: `batch_size: yes` or `learning_rate: "0.1"` are errors, not 1 and 0.1; no inf or nan.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)


class Splits(Section):
    """Hash-bucket weights of the train and eval splits (TFX's ExampleGen output config).

    Attributes:
        train: relative size of the train split. Defaults to 2.
        eval: relative size of the eval split. Defaults to 1.
    """

    train: int = Field(2, ge=1, le=1000)
    eval: int = Field(1, ge=1, le=1000)


class DataSection(Section):
    """Where the examples are and which column is the label.

    Attributes:
        path: a directory (or one CSV file) with the data, relative to the YAML file.
        format: the file format. Defaults to "csv".
        pattern: file pattern inside `path`, may hold `{SPAN}` for spans (for example
            "span-{SPAN}/*.csv"). Defaults to "*.csv" or "*" for other formats.
        span_window: how many of the latest spans one run ingests. Defaults to 1.
        label: the label column.
        exclude: columns that are not features. Defaults to none.
        splits: train/eval split weights. Defaults to 2:1.
        split_patterns: data that is already split: a file pattern per split, inside `path`
            (for example {train: "train/*.csv", eval: "eval/*.csv"}); replaces `splits`.
            Defaults to None.
        delimiter: the CSV field separator. Defaults to ",".
        encoding: the CSV files' text encoding (utf-8, latin-1, cp1252, utf-16); a UTF-8
            byte-order mark is accepted either way. Defaults to "utf-8".
        validation_fraction: the share of the train rows carved out (by a hash of each row's
            values: the same rows every run) as the validation split, which early stopping,
            learning-rate reduction, plateau restarts, the restored epoch and the Tuner's
            objective watch; the eval split is scored by the Evaluator only. Defaults to 0.1.
        drop_unlabeled: train and evaluate without the rows whose label is missing, or (for a
            classification) is a class the train split does not have, and report how many each
            split lost; when False such rows stop the run before training, with their counts
            (and, for CSV files, their line numbers). Defaults to False.
        max_columns: the most feature columns (the columns minus the label and `exclude`) a CSV
            or Parquet input may have; more are refused by `check` before any work (time and
            memory grow with the columns in every stage). Defaults to 1000.
    """

    path: str
    format: Literal["csv", "tfrecord", "parquet"] = "csv"
    pattern: str | None = None
    span_window: int = Field(1, ge=1, le=1000)
    label: str
    exclude: list[str] = Field(default_factory=list)
    splits: Splits = Field(default_factory=Splits)
    split_patterns: dict[Literal["train", "eval"], str] | None = None
    delimiter: str = ","
    encoding: Literal["utf-8", "latin-1", "cp1252", "utf-16"] = "utf-8"
    validation_fraction: float = Field(0.1, gt=0, le=0.5)
    drop_unlabeled: bool = False
    max_columns: int = Field(1000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _label_not_excluded(self) -> DataSection:
        if self.split_patterns is not None and set(self.split_patterns) != {"train", "eval"}:
            raise ValueError("split_patterns: needs a pattern for both 'train' and 'eval'")
        if self.split_patterns and self.pattern:
            raise ValueError("pattern: give either pattern (one input, split by hash) or split_patterns, "
                             "not both")
        if self.label in self.exclude:
            raise ValueError(f"exclude: the label {self.label!r} is also listed in exclude; remove it there")
        check_uri(self.path, "path")
        for key, pattern in [("pattern", self.pattern), *((f"split_patterns.{k}", v) for k, v in
                                                          (self.split_patterns or {}).items())]:
            if pattern is not None:
                check_inside(pattern, key, "data.path")
        if self.span_window > 1 and "{SPAN}" not in (self.pattern or ""):
            raise ValueError(f"span_window: {self.span_window} spans need a pattern with {{SPAN}}, for "
                             "example pattern: 'span-{SPAN}/*.csv'; without one there is a single span")
        if len(self.delimiter) != 1 or self.delimiter in ('"', "\n", "\r"):
            raise ValueError(f"delimiter: {self.delimiter!r} must be one character (not a quote or line "
                             "end), e.g. ',' or ';' or '\\t'")
        return self


class SchemaSection(Section):
    """The schema that examples are validated against.

    Attributes:
        path: a curated schema.pbtxt, relative to the YAML file; when absent the schema is
            inferred from the statistics by SchemaGen. Defaults to None.
    """

    path: str | None = None

    @field_validator("path")
    @classmethod
    def _known_scheme(cls, path: str | None) -> str | None:
        if path is not None:
            check_uri(path, "path")
        return path


class DriftSection(Section):
    """Drift of the new data from the data that trained the serving model (TFDV's comparators on
    the train split's statistics). Anomaly kinds COMPARATOR_L_INFTY_HIGH and
    COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH.

    Attributes:
        categorical_l_infinity: the largest allowed L-infinity distance between the value
            frequencies of a categorical feature (0..1). Defaults to 0.25.
        numeric_jensen_shannon: the largest allowed Jensen-Shannon divergence between the value
            distributions of a numeric feature (0..1; TFDV's approximation from histograms is
            noisy on small data: two random halves of the 344 penguins already differ by ~0.25,
            a change of units gives ~1). Defaults to 0.5.
    """

    categorical_l_infinity: float = Field(0.25, gt=0, le=1)
    numeric_jensen_shannon: float = Field(0.5, gt=0, le=1)


class ValidationSection(Section):
    """The anomaly gate between validation and training.

    Attributes:
        fail_on: "any" stops on every anomaly; a list stops only on those anomaly kinds
            (TFDV's names, for example ENUM_TYPE_UNEXPECTED_STRING_VALUES). Defaults to "any".
        exempt_features: features whose anomalies never stop the run. Defaults to none.
        drift: drift thresholds against the serving model's data; null turns the check off.
            Defaults to DriftSection().
    """

    fail_on: Literal["any"] | list[str] = "any"
    exempt_features: list[str] = Field(default_factory=list)
    drift: DriftSection | None = Field(default_factory=DriftSection)


class BatchingSection(Section):
    """How the Beam batching stage forms mini-batches.

    Attributes:
        batch_size: examples per training batch. Defaults to 32.
        eval_batch_size: examples per evaluation batch. Defaults to 256.
        shuffle_seed: seed of the global shuffle. Defaults to 42.
        drop_remainder: drop the last, smaller, training batch. Defaults to False.
        max_vocabulary: the most values a string feature's vocabulary keeps (the most frequent
            ones, from the statistics); rarer values share the out-of-vocabulary slot, and the
            Batching log says when the cap applies. Defaults to 1000.
    """

    batch_size: int = Field(32, ge=1, le=MAX_BATCH)
    eval_batch_size: int = Field(256, ge=1, le=MAX_BATCH)
    shuffle_seed: int = Field(42, ge=0, le=MAX_SEED)
    drop_remainder: bool = False
    max_vocabulary: int = Field(1000, ge=1, le=100_000)


# The defaults of the optimizer fields that are None in the spec ("this optimizer's default").
OPTIMIZER_DEFAULTS = {"momentum": {"momentum": 0.9}, "rmsprop": {"momentum": 0.0, "rho": 0.9},
                      "adadelta": {"rho": 0.95}, "adamw": {"weight_decay": 0.004}}


class OptimizerSection(Section):
    """An optimizer by name with its hyper-parameters (Keras' names and defaults).

    Attributes:
        name: one of sgd, momentum, adam, adamw, adagrad, adadelta, rmsprop. Defaults to adam.
        learning_rate: the initial learning rate. Defaults to 0.003.
        momentum: momentum of "momentum" and "rmsprop". Defaults to 0.9 for "momentum",
            0.0 for rmsprop.
        nesterov: Nesterov momentum ("momentum" only). Defaults to False.
        beta_1, beta_2: Adam's moment decay rates. Default to 0.9 and 0.999.
        epsilon: the numerical-stability term. Defaults to 1e-7.
        rho: decay of Adadelta's and RMSprop's running averages. Defaults to 0.95 / 0.9.
        initial_accumulator_value: Adagrad's starting accumulator. Defaults to 0.1.
        weight_decay: decoupled weight decay (adamw; others apply it as Keras does).
            Defaults to None (0.004 for adamw).
        schedule: "constant", "exponential_decay" or "cosine_decay". Defaults to constant.
        decay_steps: steps of one decay period. Defaults to 1000.
        decay_rate: exponential decay factor per period. Defaults to 0.96.
    """

    name: OptimizerName = "adam"
    learning_rate: float = Field(0.003, gt=0)
    momentum: float | None = Field(None, ge=0, lt=1)
    nesterov: bool = False
    beta_1: float = Field(0.9, ge=0, lt=1)
    beta_2: float = Field(0.999, ge=0, lt=1)
    epsilon: float = Field(1e-7, gt=0)
    rho: float | None = Field(None, gt=0, lt=1)
    initial_accumulator_value: float = Field(0.1, ge=0)
    weight_decay: float | None = Field(None, ge=0)
    schedule: Literal["constant", "exponential_decay", "cosine_decay"] = "constant"
    decay_steps: int = Field(1000, ge=1)
    decay_rate: float = Field(0.96, gt=0, le=1)

    def with_defaults(self) -> OptimizerSection:
        """A copy with this optimizer's own defaults (OPTIMIZER_DEFAULTS) for the fields left unset:
        read by the Trainer once the optimizer is known (the Tuner may choose it)."""
        defaults = OPTIMIZER_DEFAULTS.get(self.name, {})
        return self.model_copy(update={k: v for k, v in defaults.items() if getattr(self, k) is None})

    @model_validator(mode="after")
    def _options_fit_the_optimizer(self) -> OptimizerSection:
        if self.nesterov and self.name != "momentum":
            raise ValueError(f"nesterov: applies to the 'momentum' optimizer only, not {self.name!r}")
        if self.momentum is not None and self.name not in ("momentum", "rmsprop"):
            raise ValueError(
                f"momentum: applies to 'momentum' and 'rmsprop', not {self.name!r}; remove it"
            )
        if self.rho is not None and self.name not in ("adadelta", "rmsprop"):
            raise ValueError(f"rho: applies to 'adadelta' and 'rmsprop', not {self.name!r}; remove it")
        return self


class ModelSection(Section):
    """The network: a stack of dense layers on the preprocessed features, and (wide) a linear
    path from the features to the output layer, as in Wide & Deep (Cheng et al., 2016).

    The defaults were chosen on five scikit-learn datasets and the penguins, the same for all
    (benchmarks/quality.py): within 0.01 accuracy / 0.02 r² of a standardized logistic
    regression / ridge on the same splits.

    Attributes:
        type: the model family: "dnn" (the network below), "linear" (logistic regression or
            ridge on the preprocessed features, its L2 penalty chosen by 5-fold cross-validation
            on the training rows below 5,000 of them, on the validation split above),
            "gradient_boosted_trees" (YDF / TensorFlow Decision Forests; boosting stops on the
            validation split), or "auto" (each family scored on the training rows only: 3-fold
            cross-validation below 5,000 rows, the validation split above; the best is
            trained). Defaults to dnn.
        num_trees: gradient_boosted_trees: the most boosting iterations; the number kept is
            chosen on the validation split. Defaults to 300.
        max_depth: gradient_boosted_trees: the depth of each tree. Defaults to 6.
        shrinkage: gradient_boosted_trees: the learning rate of boosting. Defaults to 0.1.
        hidden_units: sizes of the hidden layers. Defaults to [64].
        activation: activation of the hidden layers. Defaults to relu.
        output_activation: activation of the output layer; "auto" picks softmax for
            single-label classification with a categorical loss, sigmoid for
            binary_crossentropy and linear for regression. Defaults to auto.
        output_units: size of the output layer; derived from the label when absent.
        dropout: dropout rate after each hidden layer. Defaults to 0.2.
        batch_norm: batch normalization after each hidden layer. Defaults to False.
        wide: also feed the features straight to the output layer, so the model can do at
            least what a linear model does. Defaults to True.
    """

    type: Literal[("auto",) + MODEL_TYPES] = "dnn"  # type: ignore[valid-type]
    num_trees: int = Field(300, ge=1, le=10_000)
    max_depth: int = Field(6, ge=1, le=30)
    shrinkage: float = Field(0.1, gt=0, le=1)
    hidden_units: list[int] = Field(default_factory=lambda: [64])
    activation: Activation = "relu"
    output_activation: Literal[("auto",) + ACTIVATIONS] = "auto"  # type: ignore[valid-type]
    output_units: int | None = Field(None, ge=1, le=10_000)
    dropout: float = Field(0.2, ge=0, lt=1)
    batch_norm: bool = False
    wide: bool = True

    @field_validator("hidden_units")
    @classmethod
    def _positive_units(cls, units: list[int]) -> list[int]:
        if any(u < 1 for u in units):
            raise ValueError(f"every hidden layer needs at least 1 unit, got {units}")
        return _bounded_layers(units)


def _bounded_layers(units: list[int], key: str = "") -> list[int]:
    if len(units) > MAX_LAYERS or max(units, default=0) > MAX_UNITS:
        raise ValueError(f"{key}{units if len(units) <= 8 else f'{len(units)} layers'} is too large: "
                         f"{WORK_BOUNDS['hidden_units']}")
    return units


class EarlyStoppingSection(Section):
    """Stop when a validation metric stops improving (Keras' EarlyStopping).

    Attributes:
        monitor: a compiled metric or loss, with "val_" for the validation split (carved from
            the train rows, data.validation_fraction; never the eval split). Defaults to val_loss.
        mode: "min", "max" or "auto" (from the metric's name). Defaults to auto.
        patience: epochs without improvement before stopping. Defaults to 20.
        min_delta: the smallest change that counts as an improvement. Defaults to 0.
        restore_best_weights: end with the weights of the best epoch. Defaults to True.
        start_from_epoch: epochs to wait before counting. Defaults to 0.
    """

    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(20, ge=0, le=MAX_EPOCHS)
    min_delta: float = Field(0.0, ge=0)
    restore_best_weights: bool = True
    start_from_epoch: int = Field(0, ge=0, le=MAX_EPOCHS)


class ReduceLrSection(Section):
    """Lower the learning rate on a plateau of the monitored metric (Keras' ReduceLROnPlateau).

    Attributes:
        factor: multiply the learning rate by this. Defaults to 0.5.
        patience: epochs without improvement before lowering. Defaults to 2.
        cooldown: epochs to wait after a reduction. Defaults to 0.
        min_lr: the lowest learning rate. Defaults to 0.
    """

    factor: float = Field(0.5, gt=0, lt=1)
    patience: int = Field(2, ge=0, le=MAX_EPOCHS)
    cooldown: int = Field(0, ge=0, le=MAX_EPOCHS)
    min_lr: float = Field(0.0, ge=0)


class PlateauRestartSection(Section):
    """The tutorial's schedule: on a plateau, return to the best weights with a lower
    learning rate, at most `max_restarts` times, then stop.

    Attributes:
        patience: epochs without improvement that make a plateau. Defaults to 3.
        factor: multiply the learning rate by this at each restart. Defaults to 0.5.
        max_restarts: restarts before training stops. Defaults to 3.
    """

    patience: int = Field(3, ge=1, le=MAX_EPOCHS)
    factor: float = Field(0.5, gt=0, lt=1)
    max_restarts: int = Field(3, ge=1, le=100)


class TrainerSection(Section):
    """The Trainer: model, loss, optimizer, stopping rules and distribution.

    Attributes:
        task: "classification", "regression" or "auto" (from the label's type). Defaults to auto.
        model: the network. Defaults to ModelSection().
        loss: a loss by name; "auto" picks sparse_categorical_crossentropy for
            classification and mse for regression. Defaults to auto.
        optimizer: the optimizer. Defaults to adam with learning rate 0.003.
        metrics: metrics compiled into the model (and usable as `monitor`): accuracy, mae,
            mse; "auto" gives accuracy for classification and mae for regression. Defaults to auto.
        max_epochs: the most epochs (T). Defaults to 200.
        early_stopping: when to stop; null disables it. Defaults to EarlyStoppingSection().
        reduce_lr_on_plateau: lower the learning rate on plateaus. Defaults to None.
        plateau_restarts: the tutorial's restart schedule. Defaults to None.
        distribution: tf.distribute strategy. Defaults to auto.
        seed: seed of weight initialisation and dropout. Defaults to 0.
        warm_start: start from the weights of the model now serving, when it has the same
            architecture. Defaults to False.
    """

    task: Literal["auto", "classification", "regression"] = "auto"
    model: ModelSection = Field(default_factory=ModelSection)
    loss: Literal[("auto",) + LOSSES] = "auto"  # type: ignore[valid-type]
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    metrics: Literal["auto"] | list[Literal["accuracy", "mae", "mse"]] = "auto"
    max_epochs: int = Field(200, ge=1, le=MAX_EPOCHS)
    early_stopping: EarlyStoppingSection | None = Field(default_factory=EarlyStoppingSection)
    reduce_lr_on_plateau: ReduceLrSection | None = None
    plateau_restarts: PlateauRestartSection | None = None
    distribution: Literal[DISTRIBUTIONS] = "auto"  # type: ignore[valid-type]
    seed: int = Field(0, ge=0, le=MAX_SEED)
    warm_start: bool = False

    @model_validator(mode="after")
    def _combination_can_work(self) -> TrainerSection:
        problem = combination_problem(self.task, self.loss, self.model)
        if problem:
            raise ValueError(problem)
        if self.plateau_restarts and self.reduce_lr_on_plateau:
            raise ValueError(
                "plateau_restarts and reduce_lr_on_plateau both change the learning rate on a "
                "plateau; keep one of them"
            )
        if (self.plateau_restarts or self.reduce_lr_on_plateau) and self.optimizer.schedule != "constant":
            raise ValueError(
                f"optimizer.schedule {self.optimizer.schedule!r} sets the learning rate every step, so a "
                "plateau rule cannot lower it; use schedule: constant or drop the plateau rule")
        if self.early_stopping:
            problem = self.not_monitored(self.early_stopping.monitor)
            if problem:
                raise ValueError(f"early_stopping.monitor: {problem}")
        return self

    def not_monitored(self, name: str) -> str:
        """Why `name` cannot be monitored (early stopping, the Tuner's objective), or ""."""
        allowed = [f"{prefix}{metric}" for metric in ["loss", *self.compiled_metrics()]
                   for prefix in ("val_", "")]
        if name in allowed:
            return ""
        return (f"{name!r} is not a compiled metric or loss; expected one of: {', '.join(allowed)} (the loss "
                "and trainer.metrics, with 'val_' for the validation split)" + did_you_mean(name, allowed))

    def compiled_metrics(self) -> list[str]:
        """The metrics Keras will report (besides the loss); with task auto, those of either task."""
        if self.metrics != "auto":
            return list(self.metrics)
        return list(AUTO_METRICS.get(self.task, AUTO_METRICS["classification"] + AUTO_METRICS["regression"]))

    def for_task(self, task: str) -> TrainerSection:
        """A copy with the "auto" choices made for `task` (classification or regression): the task,
        the loss, the metrics and the output activation (see AUTO_LOSS, AUTO_METRICS)."""
        if task not in TASKS or self.task not in ("auto", task):
            raise ValueError(f"trainer.task {self.task!r} cannot become {task!r}; expected one of: "
                             f"{', '.join(TASKS)}")
        loss = AUTO_LOSS[task] if self.loss == "auto" else self.loss
        activation = self.model.output_activation
        if activation == "auto":
            activation = "sigmoid" if loss == "binary_crossentropy" else (
                "softmax" if task == "classification" else "linear")
        return self.model_copy(update={
            "task": task, "loss": loss,
            "metrics": list(AUTO_METRICS[task]) if self.metrics == "auto" else self.metrics,
            "model": self.model.model_copy(update={"output_activation": activation})})


class FloatRange(Section):
    """A continuous range of a float hyper-parameter.

    Attributes:
        min: the lowest value.
        max: the highest value.
        log: sample on a log scale (for learning rates). Defaults to False.
    """

    min: float
    max: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not self.min < self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        if self.log and self.min <= 0:
            raise ValueError(f"a log scale (log: true) needs min > 0, got {self.min}")
        return self


class SearchSpace(Section):
    """What the Tuner may change in the trainer: each field is a list of choices, or for
    learning_rate and dropout also a range {min, max, log}. Unset fields keep the trainer's value.

    Attributes:
        learning_rate: trainer.optimizer.learning_rate. Defaults to None.
        hidden_units: trainer.model.hidden_units, a list of layer lists. Defaults to None.
        activation: trainer.model.activation. Defaults to None.
        optimizer: trainer.optimizer.name. Defaults to None.
        dropout: trainer.model.dropout. Defaults to None.
        batch_size: the training batch size (the Trainer re-batches). Defaults to None.
    """

    learning_rate: FloatRange | list[float] | None = None
    hidden_units: list[list[int]] | None = None
    activation: list[Activation] | None = None
    optimizer: list[OptimizerName] | None = None
    dropout: FloatRange | list[float] | None = None
    batch_size: list[int] | None = None

    @model_validator(mode="after")
    def _something_to_search(self) -> SearchSpace:
        given = {k: v for k, v in self.__dict__.items() if v is not None}
        if not given:
            raise ValueError("name at least one of learning_rate, hidden_units, activation, optimizer, "
                             "dropout, batch_size to search over")
        for key, value in given.items():
            if isinstance(value, list) and not value:
                raise ValueError(f"{key}: give at least one choice")
        for units in self.hidden_units or []:
            if not units or min(units) < 1:
                raise ValueError(f"hidden_units: {units} needs at least one layer of at least 1 unit")
            _bounded_layers(units, "hidden_units: ")
        if any(b < 1 for b in self.batch_size or []):
            raise ValueError(f"batch_size: {self.batch_size} must be whole numbers >= 1")
        if any(b > MAX_BATCH for b in self.batch_size or []):
            raise ValueError(f"batch_size: {self.batch_size} must be at most {MAX_BATCH}: "
                             f"{WORK_BOUNDS['batch_size']}")
        for key in ("learning_rate", "dropout"):
            value = getattr(self, key)
            values = [value.min, value.max] if isinstance(value, FloatRange) else value or []
            if key == "learning_rate" and any(v <= 0 for v in values):
                raise ValueError(f"learning_rate: {values} must be > 0")
            if key == "dropout" and any(not 0 <= v < 1 for v in values):
                raise ValueError(f"dropout: {values} must be in [0, 1)")
        return self


class TunerSection(Section):
    """An optional hyper-parameter search (KerasTuner) between Batching and Trainer; the Trainer
    then trains with the best values found. Absent: no Tuner stage.

    Attributes:
        search: the search space (SearchSpace).
        algorithm: "random", "bayesian" or "hyperband". Defaults to random.
        max_trials: how many models to try (random, bayesian). Defaults to 10.
        objective: a monitored metric or loss, "val_" for the validation split (carved from the
            train rows, data.validation_fraction; never the eval split). Defaults to val_loss.
        epochs: the most epochs of one trial (each trial also stops early as the trainer's
            early_stopping says). Defaults to trainer.max_epochs.
        seed: the search's seed. Defaults to 0.
    """

    search: SearchSpace
    algorithm: Literal["random", "bayesian", "hyperband"] = "random"
    max_trials: int = Field(10, ge=1, le=1000)
    objective: str = "val_loss"
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    seed: int = Field(0, ge=0, le=MAX_SEED)


PROBABILITY_LOSSES = ("categorical_crossentropy", "kl_divergence", "sparse_categorical_crossentropy")


def combination_problem(task: str, loss: str, model: ModelSection, n_classes: int | None = None) -> str:
    """Why a task/loss/output combination cannot train, or "" when it can.

    Called when the spec is loaded (with what the YAML says) and again by the compiler once the
    label's type and class count are known.
    """
    out = model.output_activation
    units = model.output_units
    if task == "regression" and loss in ("sparse_categorical_crossentropy", "categorical_crossentropy",
                                         "kl_divergence", "binary_crossentropy"):
        return f"loss {loss!r} needs class labels, but the task is regression; use mse, mae or huber"
    if task == "classification" and loss in ("mse", "mae", "huber"):
        return (f"loss {loss!r} is a regression loss, but the task is classification; use "
                "sparse_categorical_crossentropy (or auto), or task: regression for a numeric label")
    if loss in PROBABILITY_LOSSES and out not in ("auto", "softmax"):
        return (
            f"loss {loss!r} compares probability distributions, but output_activation {out!r} "
            "does not produce one; use output_activation: softmax (or auto)"
        )
    if out == "softmax" and units == 1:
        return "softmax on a single output unit always outputs 1.0; use sigmoid, or more units"
    if loss == "binary_crossentropy" and out not in ("auto", "sigmoid"):
        return (
            f"binary_crossentropy needs probabilities in [0, 1] per unit, but output_activation "
            f"{out!r} does not give them; use sigmoid (or auto)"
        )
    if task == "regression" and out == "softmax":
        return "softmax outputs a probability distribution, not a regression value; use linear"
    if n_classes is not None and units is not None and loss in PROBABILITY_LOSSES and units != n_classes:
        return f"the label has {n_classes} classes but output_units is {units}; remove output_units"
    return ""


class Threshold(Section):
    """What one metric must reach for the model to be blessed.

    Attributes:
        lower_bound: the metric must be >= this. Defaults to None.
        upper_bound: the metric must be <= this. Defaults to None.
        min_improvement: the candidate must beat the baseline by at least this much, in the
            metric's better direction (negative: may be worse by at most this). Defaults to None.
        min_relative_improvement: the same, as a fraction of the baseline's value.
            Defaults to None.
    """

    lower_bound: float | None = None
    upper_bound: float | None = None
    min_improvement: float | None = None
    min_relative_improvement: float | None = None

    @model_validator(mode="after")
    def _bounds_can_be_met(self) -> Threshold:
        low, high = self.lower_bound, self.upper_bound
        if low is not None and high is not None and low > high:
            raise ValueError(f"upper_bound: lower_bound {self.lower_bound:g} is above upper_bound "
                             f"{self.upper_bound:g}: no model could ever be blessed; swap or fix them")
        return self


class EvaluatorSection(Section):
    """Validation metrics and the thresholds of a blessing.

    Never a worse model: unless a threshold of `thresholds` already compares `compare_metric`
    with the serving model (min_improvement or min_relative_improvement), the candidate must not
    be worse than the model now serving on `compare_metric` by more than `compare_tolerance`
    (on the same eval split). With no model serving, the comparison passes.

    Attributes:
        metrics: metrics to compute; "auto" gives all for the task. Defaults to auto.
        thresholds: per metric, the bounds and the required change versus the serving model.
            Defaults to none (the comparison of compare_metric still applies).
        compare_metric: the metric on which the candidate may not be worse than the serving
            model; "auto": accuracy for classification, r2 for regression; null: no comparison
            (every model that meets `thresholds` is blessed). Defaults to auto.
        compare_tolerance: how much worse than the serving model compare_metric may be, in its
            own units (0.001: one in a thousand). Defaults to 0.001.
        force_bless: bless even when a threshold fails; the blessing records it. Defaults to False.
        beat_trivial: bless only a model better than the best constant prediction on the eval
            split (classification: accuracy not below always answering the majority class, and
            log loss below the class priors'; regression: r2 above 0, the eval mean's). Applies
            to the first push too; false turns it off and the blessing records it. Defaults to True.
        noise_rule: how a difference versus the serving model is judged against its paired
            bootstrap 95% confidence interval: "significant" refuses only when the interval's
            upper end is below -tolerance (worse beyond the noise); "point" refuses when the
            difference itself is below -tolerance; "strict" refuses unless the interval's lower
            end is at least -tolerance. Applies to the whole split and to every slice.
            Defaults to significant.
        resamples: bootstrap resamples (Poisson weights, seeded). Defaults to 1000.
        slices: feature names to slice the eval split by: a string feature (or a number with at
            most 10 distinct eval values) by value, any other number into `slice_buckets` quantile
            buckets; every metric per slice for the candidate and the serving model. Defaults to none.
        slice_buckets: quantile buckets of a numeric slice feature. Defaults to 4.
        min_slice_rows: a slice with fewer eval rows is listed as not judged. Defaults to 30.
        slice_thresholds: per slice feature ("island") or slice ("island=Biscoe"), thresholds
            as in `thresholds`, applied to those slices instead of the default comparison of
            compare_metric. Defaults to none.
    """

    metrics: Literal["auto"] | list[Metric] = "auto"  # type: ignore[valid-type]
    thresholds: dict[Metric, Threshold] = Field(default_factory=dict)  # type: ignore[valid-type]
    compare_metric: Literal["auto"] | Metric | None = "auto"  # type: ignore[valid-type]
    compare_tolerance: float = Field(0.001, ge=0.0, le=1.0)
    force_bless: bool = False
    beat_trivial: bool = True
    noise_rule: Literal["significant", "point", "strict"] = "significant"
    resamples: int = Field(1000, ge=100, le=20000)
    slices: list[str] = Field(default_factory=list, max_length=20)
    slice_buckets: int = Field(4, ge=2, le=20)
    min_slice_rows: int = Field(30, ge=1)
    slice_thresholds: dict[str, dict[Metric, Threshold]] = Field(default_factory=dict)  # type: ignore[valid-type]

    def for_task(self, task: str) -> EvaluatorSection:
        """A copy with the "auto" metrics and compare_metric chosen for `task` (AUTO_EVALUATOR_METRICS,
        AUTO_COMPARE_METRIC)."""
        if task not in TASKS:
            raise ValueError(f"task {task!r}: expected one of: {', '.join(TASKS)}")
        return self.model_copy(update={
            "metrics": list(AUTO_EVALUATOR_METRICS[task]) if self.metrics == "auto" else self.metrics,
            "compare_metric": AUTO_COMPARE_METRIC[task] if self.compare_metric == "auto"
            else self.compare_metric})


class PusherSection(Section):
    """Where blessed models are published, in TF Serving's `<destination>/<version>/` layout.

    Attributes:
        destination: the serving directory; relative paths are under runtime.root.
            Defaults to "serving".
        keep_versions: how many versions to keep. Defaults to 5.
    """

    destination: str = "serving"
    keep_versions: int = Field(5, ge=1)

    @field_validator("destination")
    @classmethod
    def _inside_the_root(cls, destination: str) -> str:
        check_uri(destination, "destination")
        if not has_scheme(destination) and not destination.startswith("/"):
            check_inside(destination, "destination", "runtime.root")
        return destination


class CardOwner(Section):
    """An owner of the model: `name` and optional `contact`."""

    name: str = Field(min_length=1, max_length=200)
    contact: str = Field("", max_length=200)


class ModelCardSection(Section):
    """What the model card of every pushed version (assets.extra/model_card.json and
    model_card.html) says that a run cannot know. Everything else on the card (data, training,
    metrics, baselines, the serving check, lineage) comes from the run.

    Attributes:
        owners: who owns the model, each {name, contact}. Defaults to [].
        intended_use: what the model is for. Defaults to "".
        users: who is meant to use it, one line each. Defaults to [].
        limitations: known limitations, one line each. Defaults to [].
    """

    owners: list[CardOwner] = Field(default_factory=list, max_length=100)
    intended_use: str = Field("", max_length=10_000)
    users: list[str] = Field(default_factory=list, max_length=100)
    limitations: list[str] = Field(default_factory=list, max_length=100)


class MetadataSSL(Section):
    """TLS for the connection to the ML Metadata server (mysql): the files are PEM, on the machine
    that runs the pipeline; relative paths are relative to the current directory.

    Attributes:
        ca: the certificate of the authority that signed the server's certificate; needed to
            verify it. Defaults to None.
        cert: the client certificate, for a server that requires one (REQUIRE X509); with key.
            Defaults to None.
        key: the client certificate's private key; with cert. Defaults to None.
        verify_server_cert: check that the server's certificate is signed by `ca` and names the
            host. Defaults to True. With false the connection is encrypted but a man in the middle
            is not detected (README: ML Metadata 1.16's client and verification).
    """

    ca: str | None = Field(None, min_length=1)
    cert: str | None = Field(None, min_length=1)
    key: str | None = Field(None, min_length=1)
    verify_server_cert: bool = True

    @model_validator(mode="after")
    def _cert_with_key(self) -> MetadataSSL:
        if (self.cert is None) != (self.key is None):
            given, missing = ("cert", "key") if self.key is None else ("key", "cert")
            raise ValueError(f"{given} is set but {missing} is not: a client certificate needs both (cert: "
                             "the certificate, key: its private key); set both or neither")
        if self.verify_server_cert and self.ca is None:
            raise ValueError("verify_server_cert needs ca, the certificate of the authority that signed the "
                             "server's certificate; set ca (or verify_server_cert: false for a test server)")
        return self


class MetadataSection(Section):
    """Where a local run records ML Metadata: a SQLite file under runtime.root, or a
    MySQL-compatible server (MySQL, MariaDB, Cloud SQL) shared by a team. Kubeflow runs use the
    cluster's own store and ignore this section.

    Attributes:
        type: "sqlite" or "mysql". Defaults to "sqlite" (runtime.root/metadata.sqlite).
        host: the server's host name (mysql). Defaults to None.
        port: the server's port (mysql). Defaults to 3306.
        database: the database, created on first use (mysql). Defaults to None.
        user: the user name (mysql). Defaults to None.
        password_env: the name of the environment variable that holds the password (mysql);
            the password itself never goes in this file. It must start with MLMD_, so that a
            spec cannot send another secret of the environment to a host of its choosing.
            Defaults to None (no password).
        ssl: TLS for the connection (mysql): ca, cert, key, verify_server_cert. Defaults to
            None (no TLS: use it on a trusted network only).
    """

    type: Literal["sqlite", "mysql"] = "sqlite"
    host: str | None = Field(None, min_length=1)
    port: int = Field(3306, ge=1, le=65535)
    database: str | None = Field(None, pattern=r"^[A-Za-z0-9_$]{1,64}$")
    user: str | None = Field(None, min_length=1)
    password_env: str | None = Field(None, pattern=r"^MLMD_[A-Za-z0-9_]+$")
    ssl: MetadataSSL | None = None

    @model_validator(mode="after")
    def _server_settings(self) -> MetadataSection:
        given = [k for k in ("host", "database", "user", "password_env", "ssl")
                 if getattr(self, k) is not None]
        if self.type == "mysql":
            missing = [k for k in ("host", "database", "user") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"type 'mysql' needs {', '.join(missing)} (and password_env, the name of "
                                 "the environment variable with the password)")
        elif given:
            raise ValueError(f"{', '.join(given)} apply to type 'mysql' only; set type: mysql or remove them")
        return self


class RuntimeSection(Section):
    """Where a local run keeps its artifacts and metadata, and how Beam runs.

    Attributes:
        root: the directory of one pipeline's runs; relative paths are relative to the
            current directory. Defaults to "runs/<name>".
        enable_cache: reuse outputs of unchanged components. Defaults to True.
        beam_pipeline_args: arguments of every Beam stage (runner, workers).
            Defaults to ["--direct_running_mode=in_memory", "--direct_num_workers=1"].
        metadata: the ML Metadata store of local runs. Defaults to SQLite under root.
    """

    root: str | None = None
    metadata: MetadataSection = Field(default_factory=MetadataSection)
    enable_cache: bool = True
    beam_pipeline_args: list[str] = Field(
        default_factory=lambda: ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    )

    @field_validator("root")
    @classmethod
    def _known_scheme(cls, root: str | None) -> str | None:
        if root is not None:
            check_uri(root, "root")
        return root


class Resources(Section):
    """Kubernetes resources of one component's pod.

    Attributes:
        cpu: CPU limit in Kubernetes units ("4", "500m"). Defaults to None.
        memory: memory limit ("16Gi", "512Mi", "8G"). Defaults to None.
        accelerator_type: for example "nvidia.com/gpu", "NVIDIA_TESLA_T4" or "TPU_V3".
            Defaults to None.
        accelerator_count: how many accelerators. Defaults to 1 when a type is given.
    """

    cpu: str | None = Field(None, pattern=r"^[0-9]+(\.[0-9]+)?m?$")
    memory: str | None = Field(None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
    accelerator_type: str | None = None
    accelerator_count: int | None = Field(None, ge=1, le=64)

    @property
    def is_tpu(self) -> bool:
        return "tpu" in (self.accelerator_type or "").lower()


KUBEFLOW_COMPONENTS = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataGate",
                       "Batching", "Tuner", "Trainer", "ServingState", "Evaluator", "Pusher")


class ObjectStoreSection(Section):
    """An S3-compatible store (MinIO in open-source Kubeflow Pipelines, or AWS S3) for s3:// paths.

    The settings reach every task container as environment variables (TensorFlow's S3 file
    system through tensorflow-io, and boto3 for Beam, read them); the credentials come from a
    Kubernetes secret, never from this file.

    Attributes:
        endpoint: the store's URL, for example "http://minio-service.kubeflow:9000" (KFP's
            MinIO). Defaults to None (AWS S3 itself).
        region: the region. Defaults to "us-east-1".
        verify_ssl: check the endpoint's TLS certificate. Defaults to True.
        credentials_secret: the Kubernetes secret with the access keys, for example
            "mlpipeline-minio-artifact" (KFP's own). Defaults to None (the pod's identity).
        access_key_key: the secret's key holding the access key id. Defaults to "accesskey".
        secret_key_key: the secret's key holding the secret access key. Defaults to "secretkey".
    """

    endpoint: str | None = Field(None, pattern=r"^https?://[^/\s]+/?$")
    region: str = "us-east-1"
    verify_ssl: bool = True
    credentials_secret: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    access_key_key: str = "accesskey"
    secret_key_key: str = "secretkey"


class KubeflowSection(Section):
    """Deployment to Kubeflow Pipelines.

    Attributes:
        image: the component image (see the Dockerfile). Defaults to
            "tfx-yaml-pipelines:<this package's version>" (never :latest, which names whatever
            was pushed last: a compiled pipeline must name the code it was compiled against).
        pipeline_root: the artifact root there (gs://, s3://, ...). Defaults to None (must be
            given, here or with --pipeline-root, to compile).
        resources: per component id (ExampleGen, StatisticsGen, ..., Trainer, Evaluator,
            Pusher). Defaults to none.
        object_store: endpoint, region and credentials secret of an S3-compatible store, for
            s3:// paths. Defaults to None.
    """

    image: str = f"tfx-yaml-pipelines:{package_version()}"
    pipeline_root: str | None = None
    resources: dict[Literal[KUBEFLOW_COMPONENTS], Resources] = Field(default_factory=dict)  # type: ignore[valid-type]
    object_store: ObjectStoreSection | None = None

    @field_validator("pipeline_root")
    @classmethod
    def _known_scheme(cls, pipeline_root: str | None) -> str | None:
        if pipeline_root is not None:
            check_uri(pipeline_root, "pipeline_root")
        return pipeline_root


class ScheduleSection(Section):
    """Scheduled retraining.

    Attributes:
        cron: a five-field cron expression. Defaults to None.
        on_new_span: run when a new data span appears. Defaults to False.
    """

    cron: str | None = None
    on_new_span: bool = False

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, expression: str | None) -> str | None:
        if expression is not None:
            try:
                cron.parse(expression)
            except cron.CronError as error:
                raise ValueError(str(error)) from None
        return expression


class PipelineSpec(Section):
    """One pipeline, as declared in a YAML file."""

    # A folder name (runs/<name>, schemas/<name>) within TFX's 63 characters; the Kubeflow compiler
    # turns it into a Kubeflow name (pipelines.kubeflow.runner.kubeflow_name).
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    description: str = ""
    data: DataSection
    schema_: SchemaSection = Field(default_factory=SchemaSection, alias="schema")
    validation: ValidationSection = Field(default_factory=ValidationSection)
    batching: BatchingSection = Field(default_factory=BatchingSection)
    trainer: TrainerSection = Field(default_factory=TrainerSection)
    tuner: TunerSection | None = None
    evaluator: EvaluatorSection = Field(default_factory=EvaluatorSection)
    pusher: PusherSection = Field(default_factory=PusherSection)
    model_card: ModelCardSection = Field(default_factory=ModelCardSection)
    runtime: RuntimeSection = Field(default_factory=RuntimeSection)
    kubeflow: KubeflowSection = Field(default_factory=KubeflowSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False)
    # The file the spec was read from (for messages about the files it names).
    _source: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        return self._source or self.name

    @model_validator(mode="after")
    def _distribution_fits_the_accelerators(self) -> PipelineSpec:
        trainer = self.kubeflow.resources.get("Trainer")
        distribution = self.trainer.distribution
        if trainer and trainer.accelerator_type:
            if trainer.is_tpu and distribution not in ("auto", "tpu"):
                raise ValueError(f"trainer.distribution: the Trainer runs on {trainer.accelerator_type} but "
                                 f"trainer.distribution is {distribution!r}; use tpu (or auto)")
            if not trainer.is_tpu and distribution == "tpu":
                raise ValueError(f"trainer.distribution: trainer.distribution is tpu but the Trainer's "
                                 f"accelerator is {trainer.accelerator_type}; use a TPU type or another "
                                 "distribution")
        return self

    @model_validator(mode="after")
    def _tuner_objective_is_monitored(self) -> PipelineSpec:
        if self.tuner is None:
            return self
        if self.trainer.distribution == "multi_worker":
            raise ValueError("tuner: a Tuner stage cannot run with trainer.distribution multi_worker "
                             "(KerasTuner needs Keras 3, multi_worker the legacy Keras); tune with another "
                             "distribution")
        if self.trainer.model.type in ("gradient_boosted_trees", "auto"):
            raise ValueError(f"tuner: the Tuner searches the network's and the linear model's "
                             f"hyper-parameters (KerasTuner trials of Keras models), not trainer.model.type "
                             f"{self.trainer.model.type!r}; set trainer.model.type: dnn or linear, or remove "
                             "the tuner section (the trees' num_trees is chosen on the validation split; set "
                             "trainer.model.max_depth and shrinkage by hand)")
        problem = self.trainer.not_monitored(self.tuner.objective)
        if problem:
            raise ValueError(f"tuner.objective: {problem}")
        for activation in self.tuner.search.activation or []:
            model = self.trainer.model.model_copy(update={"activation": activation})
            problem = combination_problem(self.trainer.task, self.trainer.loss, model)
            if problem:
                raise ValueError(f"tuner.search.activation {activation!r}: {problem}")
        return self

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> PipelineSpec:
        task = self.trainer.task
        wrong = REGRESSION_METRICS if task == "classification" else CLASSIFICATION_METRICS
        if task != "auto":
            compare = self.evaluator.compare_metric
            compared = [compare] if compare not in (None, "auto") else []
            for name in list(self.evaluator.thresholds) + compared + (
                [] if self.evaluator.metrics == "auto" else list(self.evaluator.metrics)
            ):
                if name in wrong:
                    right = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
                    raise ValueError(f"evaluator.thresholds: metric {name!r} does not apply to {task}; use "
                                     f"{', '.join(right)}")
        return self
