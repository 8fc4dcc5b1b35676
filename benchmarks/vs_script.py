"""The pipeline against the bare script a user would write instead, on the same files.

    .venv/bin/python benchmarks/vs_script.py [--sizes penguin 100000 1000000] [--runs 3] [--work DIR]

The script (this file run with --bare, in its own process: imports count, as they do for the
pipeline): pandas reads the CSV (Arrow's reader), rows without a label are dropped, a 2:1
train/eval split by a hash of each row (as ExampleGen's, a hash of the row's content) and a
validation share of the train rows by another hash (data.validation_fraction), numbers mean-imputed
and standardized with the train split's statistics, other columns one-hot with an out-of-vocabulary
column, the label as class ids. The model and optimizer are Keras written out by hand from the
same defaults the pipeline's Trainer builds from (pipelines/spec/models.py: hidden_units [64],
relu, dropout 0.2, the wide path, a softmax head, Adam at 0.003, early stopping on val_loss,
components/trainer/model.py builds the same); `model.fit` with per-epoch shuffling
(shuffle=True) and the validation split, evaluate on the eval split, a SavedModel exported.

The pipeline: `pipelines/local_runner.py` on a spec of four lines (name, data, batching, trainer;
a fresh --root each run), everything else default. Generated data: N rows of 10 float features
and a binary label, 2 epochs, batch size 256 (issue 21). Penguin: the bundled CSV with the spec's
defaults on both sides (batch size 32, up to 200 epochs, early stopping).

Runs alternate which goes first; each figure is the median of --runs with min and max. Wall
seconds are the whole process (imports included), peak RSS is the process tree's, the stage
breakdown of the pipeline comes from ML Metadata (as benchmarks/scale.py reads it) and the
script's from its own clock.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PENGUIN = REPO / "pipelines" / "penguin" / "data" / "penguins_raw.csv"
TARGETS = {"penguin": 1.2, 100_000: 2.0, 1_000_000: 1.5}  # pipeline / script, wall (issue 21)
GENERATED = {"batch_size": 256, "epochs": 2}
STAGES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataGate", "Batching", "Trainer",
          "ServingState", "Evaluator", "Pusher")


# -- the bare script ----------------------------------------------------------------------------
def bare_script(csv: str, label: str, batch_size: int, epochs: int, out: str) -> dict:
    """What a user writes instead of the pipeline. Returns its timings and eval accuracy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from pipelines.spec.models import DataSection, TrainerSection  # the defaults, not the pipeline's code

    defaults = TrainerSection()
    fraction = DataSection.model_fields["validation_fraction"].default
    times = {"imports": time.perf_counter() - STARTED}
    clock = time.perf_counter()
    frame = pd.read_csv(csv, engine="pyarrow")
    frame = frame[frame[label].notna()]
    row_hash = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    is_eval = row_hash % 3 == 2  # 2:1, by a hash of the row's content
    train, evaluation = frame[~is_eval], frame[is_eval]
    in_validation = (row_hash[~is_eval] // 3) % 1000 < fraction * 1000
    features = [c for c in frame.columns if c != label]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in features if c not in numeric]
    mean, std = train[numeric].mean(), train[numeric].std().replace(0, 1)
    vocabularies = {c: sorted(train[c].dropna().unique()) for c in categorical}
    classes = sorted(train[label].unique())

    def encode(part):
        columns = [((part[numeric].fillna(mean) - mean) / std).to_numpy(np.float32)]
        for c in categorical:
            codes = pd.Categorical(part[c], categories=vocabularies[c]).codes  # -1: missing or unknown
            columns.append(np.eye(len(vocabularies[c]) + 1, dtype=np.float32)[codes])
        codes = pd.Categorical(part[label], categories=classes).codes.astype(np.int32)
        return np.concatenate(columns, axis=1), codes

    x_all, y_all = encode(train)
    x_train, y_train = x_all[~in_validation], y_all[~in_validation]
    x_valid, y_valid = x_all[in_validation], y_all[in_validation]
    x_eval, y_eval = encode(evaluation)
    times["read+prepare"] = time.perf_counter() - clock

    clock = time.perf_counter()
    model_cfg, seed = defaults.model, defaults.seed
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((x_train.shape[1],))
    hidden = inputs
    for i, units in enumerate(model_cfg.hidden_units):
        hidden = keras.layers.Dense(units, activation=model_cfg.activation,
                                    kernel_initializer=keras.initializers.GlorotUniform(seed + i))(hidden)
        if model_cfg.dropout:
            hidden = keras.layers.Dropout(model_cfg.dropout, seed=seed + i)(hidden)
    if model_cfg.wide:
        hidden = keras.layers.Concatenate()([hidden, inputs])
    outputs = keras.layers.Dense(len(classes), activation="softmax",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed + 100))(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(defaults.optimizer.learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    stopping = defaults.early_stopping
    callbacks = [keras.callbacks.EarlyStopping(stopping.monitor, patience=stopping.patience,
                                               restore_best_weights=stopping.restore_best_weights)]
    fit = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                    validation_data=(x_valid, y_valid), validation_batch_size=256, callbacks=callbacks,
                    verbose=0)
    times["fit"] = time.perf_counter() - clock
    clock = time.perf_counter()
    accuracy = float(model.evaluate(x_eval, y_eval, batch_size=256, verbose=0)[1])
    times["evaluate"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if hasattr(model, "export"):  # Keras 3
        model.export(out, verbose=False)
    else:
        tf.saved_model.save(model, out)
    times["export"] = time.perf_counter() - clock
    return {"times": times, "accuracy": accuracy, "epochs": len(fit.history["loss"]),
            "rows": {"train": len(y_train), "validation": len(y_valid), "eval": len(y_eval)},
            "seconds": time.perf_counter() - STARTED}


# -- the comparison -----------------------------------------------------------------------------
def generate(rows: int, path: Path, seed: int = 0) -> Path:
    """N rows of 10 float features and a binary label that depends on them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 10))
    weights = rng.normal(size=10)
    label = (x @ weights + rng.logistic(size=rows) > 0).astype(np.int64)
    columns = {f"f{i}": np.round(x[:, i], 5) for i in range(10)} | {"label": label}
    path.parent.mkdir(parents=True, exist_ok=True)
    pa_csv.write_csv(pa.table(columns), str(path))
    return path


def run_pipeline(csv: Path, label: str, root: Path, generated: bool) -> dict:
    from benchmarks.scale import measured, stage_seconds

    spec = root.parent / f"{root.name}.yaml"
    lines = ["name: vs_script", f"data: {{path: {csv}, label: {label}}}"]
    if generated:
        lines += [f"batching: {{batch_size: {GENERATED['batch_size']}}}",
                  f"trainer: {{max_epochs: {GENERATED['epochs']}}}"]
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    wall, peak, result = measured([sys.executable, str(REPO / "pipelines" / "local_runner.py"), "--config",
                                   str(spec), "--root", str(root)])
    accuracy = next((float(part.split("=")[1]) for line in result.stdout.splitlines()
                     if line.startswith("metrics:") for part in line[8:].replace(",", " ").split()
                     if part.startswith("accuracy=")), float("nan"))
    history = next(root.glob("pipeline/Trainer/model_run/*/history.json"), None)
    epochs = len(json.loads(history.read_text())["epochs"]) if history else float("nan")
    return {"wall": wall, "peak": peak, "stages": stage_seconds(root), "accuracy": accuracy, "epochs": epochs}


def run_script(csv: Path, label: str, out: Path, generated: bool) -> dict:
    from benchmarks.scale import measured

    batch_size, epochs = (GENERATED["batch_size"], GENERATED["epochs"]) if generated else (32, 200)
    wall, peak, result = measured([sys.executable, __file__, "--bare", str(csv), "--label", label,
                                   "--batch-size", str(batch_size), "--epochs", str(epochs),
                                   "--out", str(out)])
    report = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    return {"wall": wall, "peak": peak, "stages": report["times"], "accuracy": report["accuracy"],
            "epochs": report["epochs"]}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} [{min(values):.1f}-{max(values):.1f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["penguin", "100000", "1000000"],
                        help="'penguin' and/or row counts of generated data")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--bare", metavar="CSV", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="label", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_script(args.bare, args.label, args.batch_size, args.epochs, args.out)))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-vs-script-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for size in args.sizes:
        generated = size != "penguin"
        key = int(size) if generated else size
        csv = generate(key, work / f"data-{key}" / "data.csv") if generated else PENGUIN
        label = "label" if generated else "species"
        runs = {"pipeline": [], "script": []}
        for i in range(args.runs):  # alternating which goes first
            order = ("pipeline", "script") if i % 2 == 0 else ("script", "pipeline")
            for who in order:
                if who == "pipeline":
                    runs[who].append(run_pipeline(csv, label, work / f"root-{key}-{i}", generated))
                else:
                    runs[who].append(run_script(csv, label, work / f"script-{key}-{i}", generated))
                print(f"done: {size} {who} run {i + 1}: {runs[who][-1]['wall']:.1f} s", file=sys.stderr,
                      flush=True)
        results[key] = runs
    print(f"runs: {args.runs} each, alternating order; median [min-max]; wall = the whole process, imports "
          "included; peak = the process tree's RSS")
    print(f"{'data':>10} {'run':<9} {'wall s':>18} {'peak GB':>8} {'accuracy':>9} {'epochs':>7}")
    for key, runs in results.items():
        name = f"{key:,}" if isinstance(key, int) else key
        for who, measured in runs.items():
            print(f"{name:>10} {who:<9} {spread([r['wall'] for r in measured]):>18} "
                  f"{statistics.median(r['peak'] for r in measured):>8.2f} "
                  f"{statistics.median(r['accuracy'] for r in measured):>9.4f} "
                  f"{statistics.median(r['epochs'] for r in measured):>7.0f}")
    print("\nstage seconds (median of the runs): the pipeline from ML Metadata, the script from its own "
          "clock")
    for key, runs in results.items():
        name = f"{key:,}" if isinstance(key, int) else key
        stages = [s for s in STAGES if any(s in r["stages"] for r in runs["pipeline"])]
        print(f"{name:>10} pipeline: " + ", ".join(
            f"{s} {statistics.median(r['stages'].get(s, 0.0) for r in runs['pipeline']):.1f}"
            for s in stages))
        parts = list(runs["script"][0]["stages"])
        print(f"{'':>10} script:   " + ", ".join(
            f"{p} {statistics.median(r['stages'].get(p, 0.0) for r in runs['script']):.1f}" for p in parts))
    print("\nratio pipeline / script, median wall (per run pairs: min-max):")
    for key, runs in results.items():
        name = f"{key:,}" if isinstance(key, int) else key
        ratios = [p["wall"] / s["wall"] for p, s in zip(runs["pipeline"], runs["script"])]
        median = statistics.median(r["wall"] for r in runs["pipeline"]) / statistics.median(
            r["wall"] for r in runs["script"])
        target = TARGETS.get(key)
        met = "met" if target is not None and median <= target else "NOT met"
        verdict = "" if target is None else f"  (target <= {target}: {met})"
        print(f"{name:>10}: {median:.2f} [{min(ratios):.2f}-{max(ratios):.2f}]{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
