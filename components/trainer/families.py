"""The model families of `trainer.model.type`, trained on Batching's encoded rows in numpy, and the
choice `auto` makes among them on the training rows only.

- dnn: the network of trainer.model (components.trainer.model.build_model).
- linear: the same head straight on the preprocessed features (no hidden layer, no dropout):
  a logistic / linear regression trained by the spec's optimizer, stopped on the validation split.
- gradient_boosted_trees: YDF's gradient-boosted trees (the library behind TensorFlow Decision
  Forests) on the encoded columns: numeric features as Batching standardized them (missing ones
  imputed with the mean), categorical ones as their vocabulary index (CATEGORICAL: the trees split
  on sets of categories). Boosting stops when the loss on the validation split stops falling
  (YDF's early stopping, 30 iterations' look-ahead) and keeps the iterations up to its minimum.
  The export is a TF-DF inference op inside the same serving signature (components.trainer.export).

`choose` (type auto) scores each family on the training rows only: below AUTO_CV_ROWS rows,
AUTO_FOLDS-fold cross-validation over the train and validation splits together (each fold's
training part carves its own early-stopping rows, data.validation_fraction of them); above, each
family is trained on the train split and scored on the validation split. The eval split is never
read. The score is accuracy (classification) or r² (regression); ties go to the earlier family in
AUTO_ORDER (the simpler model).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import tensorflow as tf

from components.common import io, payloads
from components.common.features import CLASSIFICATION, FeaturePlan
from components.trainer import callbacks as cb
from components.trainer.backend import keras
from components.trainer.model import Head, build_model, compile_model
from components.trainer.registry import get_optimizer

DNN, LINEAR, TREES = "dnn", "linear", "gradient_boosted_trees"
AUTO_ORDER = (LINEAR, TREES, DNN)  # ties go to the earlier
AUTO_CV_ROWS = 5_000  # training rows (train + validation) below which auto cross-validates
AUTO_FOLDS = 3  # auto's folds: each fold trains every family (the network's fits are most of auto's time)
LINEAR_FOLDS = 5  # the linear model's L2 penalty, chosen by cross-validation below AUTO_CV_ROWS (cheap fits)
LABEL_KEY = "__label__"  # the label's column in YDF's data (feature names are the plan's)


def network_config(cfg, family: str):
    """The trainer config of a Keras family: linear is the head alone (no hidden layer, no wide
    path that would repeat the features, no dropout)."""
    if family == LINEAR:
        return cfg.model_copy(update={"model": cfg.model.model_copy(
            update={"type": LINEAR, "hidden_units": [], "wide": False, "dropout": 0.0, "batch_norm": False})})
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"type": family})})


def read_split(uri: str, split: str, plan: FeaturePlan) -> tuple[np.ndarray, np.ndarray]:
    """One split of a Batches artifact as (x [n, columns], y [n]) float32 arrays."""
    files = sorted(io.glob(io.join(uri, f"Split-{split}", "batches-*")))
    parts = [payloads.parse_batch(record.numpy(), plan.columns) for record in tf.data.TFRecordDataset(files)]
    if not parts:
        return np.empty((0, plan.columns), np.float32), np.empty(0, np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def grouped_folds(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """k folds of row indices in which identical rows (features and label) share a fold, as
    ExampleGen's split (a hash of the whole example) keeps identical examples in one split: random
    folds put copies of a row on both sides and flatter a model that memorizes (TitanicSurvival,
    whose rows repeat: trees scored 0.837 by random folds, 0.737 on the eval split)."""
    _, group = np.unique(np.concatenate([x, y[:, None]], axis=1), axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.random.default_rng(seed).permutation(int(group.max()) + 1)
    fold_of_group = np.empty_like(order)
    fold_of_group[order] = np.arange(len(order)) % k
    fold = fold_of_group[group]
    return [np.flatnonzero(fold == i) for i in range(k)]


# -- gradient-boosted trees -----------------------------------------------------------------------

def tree_columns(plan: FeaturePlan, x: np.ndarray) -> dict[str, np.ndarray]:
    """Encoded columns -> YDF's named columns: numbers as they are, categories as int64 indices."""
    k = len(plan.numeric)
    data = {f.name: np.ascontiguousarray(x[:, i]) for i, f in enumerate(plan.numeric)}
    data.update({f.name: x[:, k + i].astype(np.int64) for i, f in enumerate(plan.categorical)})
    return data


def fit_trees(cfg, plan: FeaturePlan, x, y, x_valid, y_valid):
    """A YDF GradientBoostedTreesModel; boosting stops on (x_valid, y_valid) (or, without rows
    there, on 10 % of the train rows YDF carves itself)."""
    import ydf

    classification = plan.task == CLASSIFICATION
    model_cfg = cfg.model
    learner = ydf.GradientBoostedTreesLearner(
        label=LABEL_KEY, task=ydf.Task.CLASSIFICATION if classification else ydf.Task.REGRESSION,
        features=[ydf.Feature(f.name, ydf.Semantic.CATEGORICAL) for f in plan.categorical],
        include_all_columns=True, num_trees=model_cfg.num_trees, max_depth=model_cfg.max_depth,
        shrinkage=model_cfg.shrinkage, random_seed=cfg.seed)

    def frame(xs, ys):
        return tree_columns(plan, xs) | {LABEL_KEY: ys.astype(np.int64) if classification else ys}

    valid = frame(x_valid, y_valid) if len(y_valid) else None
    return learner.train(frame(x, y), valid=valid, verbose=0)


def class_matrix(model, plan: FeaturePlan) -> np.ndarray:
    """[YDF's classes, the plan's classes]: 1 where they are the same class (YDF names the class
    ids it was given, in its own order; a class absent from the train rows gets probability 0)."""
    matrix = np.zeros((len(model.label_classes()), len(plan.classes)), np.float32)
    for i, name in enumerate(model.label_classes()):
        matrix[i, int(name)] = 1.0
    return matrix


def predict_trees(model, plan: FeaturePlan, x: np.ndarray) -> np.ndarray:
    """The trees' outputs as the network's head gives them: class probabilities in the plan's
    order [n, classes], or the standardized value [n, 1]."""
    p = np.asarray(model.predict(tree_columns(plan, x)), np.float32)
    if plan.task != CLASSIFICATION:
        return p.reshape(-1, 1)
    if p.ndim == 1:  # binary: P(YDF's second class)
        p = np.stack([1.0 - p, p], axis=1)
    return p @ class_matrix(model, plan)


class TreeScorer(tf.Module):
    """The trees as a TensorFlow function of the model input the plan makes ([n, width]: each
    category one-hot, FeaturePlan.transform) -> the head's outputs (probabilities in the plan's
    class order, or the standardized value [n, 1]). Each category's index is its one-hot block's
    argmax. The forest is TF-DF's inference op on the model YDF writes into the SavedModel's
    assets."""

    def __init__(self, model, plan: FeaturePlan):
        super().__init__()
        self.forest = model.to_tensorflow_function(squeeze_binary_classification=False)
        self.serialized = model.serialize()  # the fingerprint's bytes
        self.classification = plan.task == CLASSIFICATION
        self.matrix = tf.constant(class_matrix(model, plan)) if self.classification else None
        self.numeric = [f.name for f in plan.numeric]
        self.categorical = [(f.name, len(f.vocabulary) + 1) for f in plan.categorical]

    def __call__(self, x):
        start = len(self.numeric)
        features = {name: x[:, i] for i, name in enumerate(self.numeric)}
        for name, size in self.categorical:
            features[name] = tf.argmax(x[:, start:start + size], axis=1, output_type=tf.int64)
            start += size
        out = self.forest(features)
        if not self.classification:
            return tf.reshape(out, [-1, 1])
        return tf.matmul(tf.reshape(out, [-1, self.matrix.shape[0]]), self.matrix)


def trees_summary(model, cfg) -> dict:
    """What the trees' training decided, for history.json."""
    iterations = model.num_trees() // max(1, model.num_trees_per_iteration())
    return {"iterations_kept": iterations, "num_trees_max": cfg.model.num_trees,
            "validation_loss": float(model.validation_loss() or float("nan")),
            "max_depth": cfg.model.max_depth, "shrinkage": cfg.model.shrinkage}


def train_trees(cfg, plan: FeaturePlan, head: Head, batches_uri: str):
    """The Trainer's gradient_boosted_trees: (a TreeScorer to export, its head, history.json's
    epochs and stop entries)."""
    x, y = read_split(batches_uri, "train", plan)
    x_valid, y_valid = read_split(batches_uri, "validation", plan)
    started = time.perf_counter()
    model = fit_trees(cfg, plan, x, y, x_valid, y_valid)
    summary = trees_summary(model, cfg)
    seconds = time.perf_counter() - started
    if plan.task == CLASSIFICATION:  # the scorer gives every class's probability
        head = dataclasses.replace(head, units=len(plan.classes), label_coding="ids")
    kept, most = summary["iterations_kept"], summary["num_trees_max"]
    reason = (f"gradient-boosted trees: {kept} boosting iterations kept of at most {most} (the validation "
              f"split's loss, {len(y_valid):,} rows, stopped falling; validation loss "
              f"{summary['validation_loss']:.4g}); {seconds:.1f} s" if kept < most else
              f"gradient-boosted trees: num_trees reached ({most}; the validation loss was still falling: "
              f"{summary['validation_loss']:.4g}); {seconds:.1f} s")
    outputs = predict_trees(model, plan, x_valid) if len(y_valid) else None
    point = {"epoch": kept, "val_loss": summary["validation_loss"]}
    if outputs is not None:
        point["val_" + ("accuracy" if plan.task == CLASSIFICATION else "r2")] = score(plan, outputs, y_valid)
    stop = {"stop_reason": reason, "restored_epoch": None, "epochs_run": kept, "trees": summary,
            "warm_start": "no (gradient_boosted_trees train from scratch)", "replicas": 1}
    return TreeScorer(model, plan), head, [point], stop


# -- the linear model -------------------------------------------------------------------------------

LINEAR_L2 = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # the L2 penalties tried; the validation split picks one


def _softmax_fit(x: np.ndarray, y: np.ndarray, classes: int, l2: float, start=None) -> np.ndarray:
    """Multinomial logistic regression by L-BFGS: weights [d + 1, classes] (the last row the bias,
    not penalized) minimizing the mean cross-entropy + l2 / 2 * |W|²."""
    from scipy.optimize import minimize

    n, d = x.shape
    xb = np.concatenate([x, np.ones((n, 1), x.dtype)], axis=1).astype(np.float64)
    onehot = np.eye(classes)[y.astype(np.int64)]
    mask = np.ones((d + 1, classes))
    mask[-1] = 0.0

    def loss(flat):
        w = flat.reshape(d + 1, classes)
        z = xb @ w
        z -= z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -np.sum(onehot * log_p) / n + 0.5 * l2 * np.sum((w * mask) ** 2)
        grad = xb.T @ (np.exp(log_p) - onehot) / n + l2 * w * mask
        return value, grad.ravel()

    w0 = np.zeros((d + 1) * classes) if start is None else start.ravel()
    return minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 500}).x.reshape(d + 1, classes)


def _ridge_fit(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Ridge regression in closed form: weights [d + 1] (the bias unpenalized) minimizing the mean
    squared error + l2 * |w|²."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    mean_x, mean_y = x64.mean(axis=0), y64.mean()
    centred = x64 - mean_x
    w = np.linalg.solve(centred.T @ centred / len(y64) + l2 * np.eye(x.shape[1]),
                        centred.T @ (y64 - mean_y) / len(y64))
    return np.append(w, mean_y - mean_x @ w)


def _linear_weights(wide, y, l2: float, classes: int, start=None) -> np.ndarray:
    return _softmax_fit(wide, y, classes, l2, start) if classes else _ridge_fit(wide, y, l2)


def _linear_loss(weights: np.ndarray, wide, y, classes: int) -> float:
    """Mean cross-entropy (classes) or squared error of the weights on these rows."""
    z = np.concatenate([wide, np.ones((len(y), 1))], axis=1) @ weights
    if not classes:
        return float(np.mean((z - y) ** 2))
    z -= z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y.astype(np.int64)]))


def fit_linear(cfg, plan: FeaturePlan, head: Head, x, y, x_valid, y_valid):
    """The linear family: logistic regression (L-BFGS) or ridge (closed form) on the preprocessed
    features, its L2 penalty the one of LINEAR_L2 with the lowest held-out loss (cross-entropy or
    squared error): below AUTO_CV_ROWS training rows by LINEAR_FOLDS-fold cross-validation over the
    train and validation rows, then refitted on all of them (as LogisticRegressionCV / RidgeCV
    do); above, on the validation split, fitted on the train split. The weights are set in the
    head-only Keras model the Trainer exports. Returns (model, history.json's record)."""
    classes = len(plan.classes) if plan.task == CLASSIFICATION else 0
    wide = plan.expand(tf.constant(x)).numpy()
    wide_valid = plan.expand(tf.constant(x_valid)).numpy()
    rows = len(y) + len(y_valid)
    tried: dict[float, float] = {}
    if rows < AUTO_CV_ROWS:
        wide, y = np.concatenate([wide, wide_valid]), np.concatenate([y, y_valid])
        folds = grouped_folds(wide, y, LINEAR_FOLDS, cfg.seed)
        for l2 in LINEAR_L2:
            losses = []
            for held in folds:
                keep = np.setdiff1d(np.arange(rows), held)
                weights = _linear_weights(wide[keep], y[keep], l2, classes)
                losses.append(_linear_loss(weights, wide[held], y[held], classes))
            tried[l2] = float(np.mean(losses))
        how = f"{LINEAR_FOLDS}-fold cross-validation on the {rows:,} training rows (train and validation)"
    else:
        start = None
        for l2 in LINEAR_L2:
            start = _linear_weights(wide, y, l2, classes, start)
            tried[l2] = _linear_loss(start, wide_valid, y_valid, classes)
        how = f"the validation split ({len(y_valid):,} rows)"
    l2 = min(LINEAR_L2, key=lambda value: tried[value])
    weights = _linear_weights(wide, y, l2, classes)
    if classes and head.units == 1:  # one sigmoid unit: the logit of class 1 against class 0
        kernel, bias = weights[:-1, 1:2] - weights[:-1, 0:1], weights[-1, 1:2] - weights[-1, 0:1]
    elif classes:
        kernel, bias = weights[:-1], weights[-1]
    else:
        kernel, bias = weights[:-1, None], weights[-1:]
    keras.utils.set_random_seed(cfg.seed)
    linear = network_config(cfg, LINEAR)
    model = build_model(plan.width, head, linear)
    compile_model(model, head, get_optimizer(linear.optimizer))
    model.get_layer("output").set_weights([kernel.astype(np.float32), np.asarray(bias, np.float32)])
    record = {"l2": l2, "chosen_by": how, "held_out_loss": tried[l2],
              "l2_tried": [[value, tried[value]] for value in LINEAR_L2], "fitted_rows": len(y),
              "solver": "L-BFGS (logistic regression)" if classes else "closed form (ridge)"}
    return model, record


def train_linear(cfg, plan: FeaturePlan, head: Head, batches_uri: str):
    """The Trainer's linear family: (the Keras model to export, history.json's epochs and stop
    entries)."""
    x, y = read_split(batches_uri, "train", plan)
    x_valid, y_valid = read_split(batches_uri, "validation", plan)
    started = time.perf_counter()
    model, record = fit_linear(cfg, plan, head, x, y, x_valid, y_valid)
    point = {"epoch": 1, "held_out_loss": record["held_out_loss"]}
    reason = (f"linear model: {record['solver']} on {record['fitted_rows']:,} rows with the L2 penalty "
              f"{record['l2']:g}, the lowest held-out loss ({record['held_out_loss']:.4g}, by "
              f"{record['chosen_by']}) of {', '.join(f'{v:g}' for v in LINEAR_L2)}; "
              f"{time.perf_counter() - started:.1f} s")
    stop = {"stop_reason": reason, "restored_epoch": None, "epochs_run": 1, "linear": record,
            "warm_start": "no (the linear model is solved, not trained from a start)", "replicas": 1}
    return model, [point], stop


def linear_applies(head: Head) -> bool:
    """fit_linear's solvers fit softmax, one sigmoid unit or a linear output (the auto heads)."""
    return head.activation in ("softmax", "sigmoid", "linear") and not (
        head.activation == "sigmoid" and head.units != 1)


# -- the Keras families on numpy rows (auto's scoring) ---------------------------------------------

def coded_labels(y: np.ndarray, head: Head, classes: int) -> np.ndarray:
    if head.label_coding == "ids":
        return y.astype(np.int32)
    if head.label_coding == "one_hot":
        return np.eye(classes, dtype=np.float32)[y.astype(np.int64)]
    return y.reshape(-1, 1)


def fit_network(cfg, plan: FeaturePlan, head: Head, x, y, x_valid, y_valid) -> keras.Model:
    """The network or linear model of `cfg` trained on numpy rows, stopped on (x_valid, y_valid)
    with the spec's early stopping (as the Trainer's: its patience, its restored epoch)."""
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(plan.width, head, cfg)
    compile_model(model, head, get_optimizer(cfg.optimizer))
    expand = plan.expand
    classes = len(plan.classes)
    callbacks = [cb.early_stopping(cfg.early_stopping)] if cfg.early_stopping else []
    model.fit(expand(tf.constant(x)), coded_labels(y, head, classes), batch_size=cfg.batch_size,
              epochs=cfg.max_epochs, validation_data=(expand(tf.constant(x_valid)),
                                                      coded_labels(y_valid, head, classes)),
              callbacks=callbacks, verbose=0, shuffle=True)
    return model


def predict(family: str, model, plan: FeaturePlan, head: Head, x: np.ndarray) -> np.ndarray:
    """[n, classes] probabilities or [n, 1] standardized values of any family."""
    if family == TREES:
        return predict_trees(model, plan, x)
    out = np.asarray(model.predict(plan.expand(tf.constant(x)), batch_size=4096, verbose=0), np.float32)
    if plan.task == CLASSIFICATION and out.shape[1] == 1:  # one sigmoid unit
        out = np.concatenate([1.0 - out, out], axis=1)
    return out


def score(plan: FeaturePlan, outputs: np.ndarray, y: np.ndarray) -> float:
    """Accuracy (classification) or r² (regression; the same in standardized units)."""
    if plan.task == CLASSIFICATION:
        return float(np.mean(np.argmax(outputs, axis=1) == y.astype(np.int64)))
    residual = float(np.sum((y - outputs[:, 0]) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - residual / total if total > 0 else 0.0


def fit(family: str, cfg, plan: FeaturePlan, head: Head, x, y, x_valid, y_valid):
    if family == TREES:
        return fit_trees(cfg, plan, x, y, x_valid, y_valid)
    if family == LINEAR and linear_applies(head):
        return fit_linear(cfg, plan, head, x, y, x_valid, y_valid)[0]
    return fit_network(network_config(cfg, family), plan, head, x, y, x_valid, y_valid)


def resolve(cfg, plan: FeaturePlan, head: Head, batches_uri: str):
    """(the trainer config of the family to train, auto's record or None): auto chooses (choose);
    linear becomes its network config."""
    choice = None
    if cfg.model.type == "auto":
        fraction = (payloads.read_counts(batches_uri) or {}).get("validation_fraction") or 0.1
        choice = choose(cfg, plan, head, batches_uri, fraction)
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"type": choice["chosen"]})})
    return (cfg if cfg.model.type == TREES else network_config(cfg, cfg.model.type)), choice


def choose(cfg, plan: FeaturePlan, head: Head, batches_uri: str, validation_fraction: float,
           families=AUTO_ORDER) -> dict:
    """auto's choice: every family's score on the training rows only, the family chosen and why.
    The returned record goes to the console, history.json and the report."""
    started = time.perf_counter()
    x, y = read_split(batches_uri, "train", plan)
    x_valid, y_valid = read_split(batches_uri, "validation", plan)
    rows = len(y) + len(y_valid)
    metric = "accuracy" if plan.task == CLASSIFICATION else "r2"
    scores: dict[str, list[float]] = {f: [] for f in families}
    if rows < AUTO_CV_ROWS:
        x_all, y_all = np.concatenate([x, x_valid]), np.concatenate([y, y_valid])
        folds = grouped_folds(x_all, y_all, AUTO_FOLDS, cfg.seed)
        method = (f"{AUTO_FOLDS}-fold cross-validation on the {rows:,} training rows (train and validation "
                  f"splits; below {AUTO_CV_ROWS:,} rows; identical rows share a fold); each fold's early "
                  f"stopping on {validation_fraction:g} of its training part")
        for held in folds:
            rest = np.setdiff1d(np.arange(rows), held)  # then a seeded carve of the early-stopping rows
            rest = np.random.default_rng(cfg.seed + 1).permutation(rest)
            n_stop = max(1, round(len(rest) * validation_fraction))
            stop, part = rest[:n_stop], rest[n_stop:]
            for family in families:
                model = fit(family, cfg, plan, head, x_all[part], y_all[part], x_all[stop], y_all[stop])
                outputs = predict(family, model, plan, head, x_all[held])
                scores[family].append(score(plan, outputs, y_all[held]))
    else:
        method = (f"each family trained on the train split ({len(y):,} rows) and scored on the validation "
                  f"split ({len(y_valid):,} rows; {rows:,} training rows, at least {AUTO_CV_ROWS:,})")
        for family in families:
            model = fit(family, cfg, plan, head, x, y, x_valid, y_valid)
            scores[family].append(score(plan, predict(family, model, plan, head, x_valid), y_valid))
    means = {f: float(np.mean(s)) for f, s in scores.items()}
    best = max(families, key=lambda f: (round(means[f], 10), -families.index(f)))
    others = ", ".join(f"{f} {means[f]:.4f}" for f in families if f != best)
    return {"chosen": best, "metric": metric, "method": method,
            "scores": {f: {"mean": means[f], "folds": scores[f]} for f in families},
            "why": f"highest mean {metric}: {best} {means[best]:.4f} (against {others}); ties go to the "
                   f"simpler family, in the order {', '.join(families)}",
            "seconds": round(time.perf_counter() - started, 1)}
