"""The pipeline against the bare script a user would write instead, on the same files.

    .venv/bin/python benchmarks/vs_script.py [--sizes penguin 100000 1000000] [--runs 3] [--work DIR]

The script (this file run with --bare, in its own process: imports count, as they do for the
pipeline) takes every setting from the spec the pipeline runs, read with the spec loader (the
user's choices; none of the pipeline's code): pandas reads the CSV files (Arrow's reader), the
excluded columns and rows without a label are dropped, a train/eval split in data.splits' ratio by
a hash of each row's content (as ExampleGen's, which hashes the row's tf.Example) and a validation
share of the train rows by the same hash (data.validation_fraction), numbers mean-imputed and
standardized with the train split's statistics, other columns one-hot with an out-of-vocabulary
column, the label as class ids. The model and optimizer are Keras written out by hand from the
spec's trainer section (hidden units, activation, dropout, the wide path, a softmax head, the
optimizer and learning rate, early stopping; components/trainer/model.py builds the same);
`model.fit` with per-epoch shuffling (shuffle=True), the spec's batch sizes and the validation
split, evaluate on the eval split, a SavedModel exported.

The pipeline: `pipelines/local_runner.py --config SPEC` with a fresh --root each run, on a spec of
name and data (everything else default). Penguin: the bundled CSV (batch size 32, up to 200
epochs, early stopping). Generated data: N rows of 10 float features and a binary label, and the
spec also sets 2 epochs and batch size 256 (issue 21).

Equal work: the script trains exactly as many epochs as the pipeline's latest run did (its early
stopping off; a pipeline run comes first), so the ratio is the cost of the pipeline around the
same training, not two early-stopping draws on different validation rows (the two sides split the
rows by different hashes: penguin's 23 validation rows let one side stop at 14 epochs and the other
run all 200). The per-epoch seconds of the Trainer and of fit are printed beside the walls.

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
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PENGUIN = REPO / "pipelines" / "penguin" / "data"
TARGETS = {"penguin": 1.2, 100_000: 2.0, 1_000_000: 1.5}  # pipeline / script, wall (issue 21)
GENERATED = {"batch_size": 256, "epochs": 2}
STAGES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataGate", "Batching", "Trainer",
          "ServingState", "Evaluator", "Pusher")


# -- the bare script ----------------------------------------------------------------------------
def bare_script(spec_path: str, out: str, epochs: int | None = None) -> dict:
    """What a user writes instead of the pipeline, with the settings of the spec the pipeline runs
    (read with the spec loader: the user's choices, none of the pipeline's code); `epochs`: train
    exactly so many (early stopping off). Returns its timings, eval accuracy and epochs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import glob

    import keras
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from pipelines.spec.loader import load_spec

    spec = load_spec(spec_path)
    data, trainer, batching = spec.data, spec.trainer, spec.batching
    if trainer.model.type != "dnn":  # the script below is the network: equal work needs the same family
        sys.exit(f"vs_script compares the network (trainer.model.type dnn); {spec_path} trains "
                 f"{trainer.model.type!r}")
    label, fraction = data.label, data.validation_fraction
    times = {"imports": time.perf_counter() - STARTED}
    clock = time.perf_counter()
    files = sorted(glob.glob(os.path.join(data.path, "*.csv"))) if os.path.isdir(data.path) else [data.path]
    frame = pd.concat([pd.read_csv(f, engine="pyarrow") for f in files], ignore_index=True)
    frame = frame.drop(columns=data.exclude)[lambda f: f[label].notna()]
    row_hash = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    buckets = data.splits.train + data.splits.eval
    is_eval = row_hash % buckets >= data.splits.train  # train:eval as data.splits, by the row's content
    train, evaluation = frame[~is_eval], frame[is_eval]
    in_validation = (row_hash[~is_eval] // buckets) % 1000 < fraction * 1000
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
    model_cfg, seed = trainer.model, trainer.seed
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
    optimizer = keras.optimizers.get({"class_name": trainer.optimizer.name,
                                      "config": {"learning_rate": trainer.optimizer.learning_rate}})
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    stopping = trainer.early_stopping if epochs is None else None
    callbacks = [keras.callbacks.EarlyStopping(stopping.monitor, patience=stopping.patience,
                                               min_delta=stopping.min_delta,
                                               restore_best_weights=stopping.restore_best_weights)
                 ] if stopping else []
    fit = model.fit(x_train, y_train, batch_size=batching.batch_size, epochs=epochs or trainer.max_epochs,
                    shuffle=True, validation_data=(x_valid, y_valid),
                    validation_batch_size=batching.eval_batch_size, callbacks=callbacks, verbose=0)
    times["fit"] = time.perf_counter() - clock
    clock = time.perf_counter()
    accuracy = float(model.evaluate(x_eval, y_eval, batch_size=batching.eval_batch_size, verbose=0)[1])
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


def write_spec(data: Path, label: str, work: Path, generated: bool) -> Path:
    """The spec both sides read: name and data, everything else default; generated data also sets
    the batch size and epochs."""
    lines = ["name: vs_script", f"data: {{path: {data}, label: {label}}}"]
    if generated:
        lines += [f"batching: {{batch_size: {GENERATED['batch_size']}}}",
                  f"trainer: {{max_epochs: {GENERATED['epochs']}}}"]
    work.mkdir(parents=True, exist_ok=True)
    spec = work / "pipeline.yaml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return spec


def run_pipeline(spec: Path, root: Path) -> dict:
    from benchmarks.scale import measured, stage_seconds

    shutil.rmtree(root, ignore_errors=True)  # cold: a fresh root, nothing cached, nothing serving
    runner = str(REPO / "pipelines" / "local_runner.py")
    wall, peak, result, *_ = measured([sys.executable, runner, "--config", str(spec), "--root", str(root)])
    if result.returncode:
        raise SystemExit(f"the pipeline failed on {spec}:\n{result.stderr[-3000:]}")
    accuracy = next((float(part.split("=")[1]) for line in result.stdout.splitlines()
                     if line.startswith("metrics:") for part in line[8:].replace(",", " ").split()
                     if part.startswith("accuracy=")), float("nan"))
    history = next(root.glob("pipeline/Trainer/model_run/*/history.json"), None)
    epochs = len(json.loads(history.read_text())["epochs"]) if history else float("nan")
    return {"wall": wall, "peak": peak, "stages": stage_seconds(root), "accuracy": accuracy, "epochs": epochs}


def run_script(spec: Path, out: Path, epochs: int) -> dict:
    from benchmarks.scale import measured

    shutil.rmtree(out, ignore_errors=True)
    wall, peak, result, *_ = measured([sys.executable, __file__, "--bare", str(spec), "--out", str(out),
                                       "--epochs", str(epochs)])
    if result.returncode:
        raise SystemExit(f"the script failed on {spec}:\n{result.stderr[-3000:]}")
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
    parser.add_argument("--bare", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_script(args.bare, args.out, args.epochs)))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-vs-script-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for size in args.sizes:
        generated = size != "penguin"
        key = int(size) if generated else size
        data = generate(key, work / f"data-{key}" / "data.csv") if generated else PENGUIN
        spec = write_spec(data, "label" if generated else "species", work / f"data-{key}", generated)
        runs = {"pipeline": [], "script": []}
        for i in range(args.runs):  # alternating which goes first (the pipeline in the first pair)
            order = ("pipeline", "script") if i % 2 == 0 else ("script", "pipeline")
            for who in order:
                if who == "pipeline":
                    runs[who].append(run_pipeline(spec, work / f"root-{key}-{i}"))
                else:
                    epochs = runs["pipeline"][-1]["epochs"]
                    runs[who].append(run_script(spec, work / f"script-{key}-{i}", epochs))
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
        trainer = statistics.median(r["stages"].get("Trainer", 0.0) / r["epochs"] for r in runs["pipeline"])
        fit = statistics.median(r["stages"]["fit"] / r["epochs"] for r in runs["script"])
        print(f"{'':>10} per epoch: Trainer {trainer:.3f} s (reading, export and all), fit {fit:.3f} s")
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
