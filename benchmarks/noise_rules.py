"""Which rule should refuse a retrain? Retrain the penguin model with 10 seeds (equal quality) and
9 deliberately worse candidates (3 with trainer.max_epochs 1, 3 trained where Biscoe's labels
were scrambled, 3 where 20 % of them were), compare each with the seed-0 model on the same eval
rows, and count, for each candidate rule, how many equal retrains it refuses and how many worse
ones it lets through, on the whole split and on every slice of island and sex with at least 30
rows (the defaults).

    .venv/bin/python benchmarks/noise_rules.py [--work DIR]

The pipelines run as a user runs them (a fresh process each, one root: the data stages are
cached after the first run of each data set); the comparison then uses the Evaluator's own
functions (score_saved_model, bootstrap.intervals, worse_beyond). About 20 Trainer runs: some 8
minutes on a quiet 2-core machine, 50 on a busy one. `--only KIND ...` runs those candidates only.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEEDS = range(1, 11)
WORSE = ([("max_epochs 1", "clean", 1, s) for s in (1, 2, 3)]
         + [("Biscoe scrambled", "biscoe", 40, s) for s in (1, 2, 3)]
         + [("Biscoe 20% scrambled", "biscoe20", 40, s) for s in (1, 2, 3)])
SLICES = ("island", "sex")
MIN_ROWS = 30
RULES = [("point, tolerance 0.001 (the old default)", "point", 0.001),
         ("point, tolerance 0.01 (penguin's spec)", "point", 0.01),
         ("significant: CI upper end < -0.001", "significant", 0.001),
         ("strict: CI lower end < -0.001", "strict", 0.001)]
SPEC = """name: noise-rules-{data}
data:
  path: {path}
  label: species
  exclude: [year]
  split_patterns: {{train: "train/*.csv", eval: "eval/*.csv"}}
schema: {{path: {schema}}}
trainer: {{max_epochs: {epochs}, seed: {seed}}}
evaluator: {{compare_metric: null}}
pusher: {{destination: {work}/serving-{data}}}
runtime: {{root: {work}/root-{data}}}
"""


def write_data(work: Path) -> None:
    with open(REPO / "pipelines" / "penguin" / "data" / "penguins_raw.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(1)
    scrambled = [{**r, "species": rng.choice(["Adelie", "Gentoo", "Chinstrap"])} if r["island"] == "Biscoe"
                 else r for r in rows]
    mild = [{**r, "species": rng.choice(["Adelie", "Gentoo", "Chinstrap"])}
            if r["island"] == "Biscoe" and rng.random() < 0.2 else r for r in rows]
    for name, source in (("clean", rows), ("biscoe", scrambled), ("biscoe20", mild)):
        for split, keep in (("train", lambda i: i % 3), ("eval", lambda i: i % 3 == 0)):
            chosen = [(source if split == "train" else rows)[i] for i in range(len(rows)) if keep(i)]
            path = work / name / split / "penguins.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(chosen)


def train(work: Path, data: str, epochs: int, seed: int) -> tuple[str, list[str]]:
    """Run the pipeline; the path of the model it trained and the eval split's files."""
    spec = work / f"{data}-{epochs}-{seed}.yaml"
    schema = REPO / "schemas" / "penguin" / "schema.pbtxt"
    spec.write_text(SPEC.format(data=data, path=work / data, schema=schema, epochs=epochs, seed=seed,
                                work=work))
    runner = str(REPO / "pipelines" / "local_runner.py")
    result = subprocess.run([sys.executable, runner, "--config", str(spec)], capture_output=True, text=True,
                            check=False)
    if result.returncode:
        raise SystemExit(result.stdout + result.stderr)
    root = work / f"root-{data}" / "pipeline"
    newest = max((root / "Trainer" / "model").iterdir(), key=lambda p: int(p.name))
    examples = max((root / "ExampleGen" / "examples").iterdir(), key=lambda p: int(p.name))
    return str(newest / "Format-Serving"), sorted(str(p) for p in (examples / "Split-eval").iterdir())


def judge(candidate, serving, plan, columns) -> dict[str, tuple[bool, bool]]:
    """Per rule: (refused on the whole split, refused on a slice)."""
    from components.evaluator import bootstrap, slices

    labels = candidate.labels
    cuts = [slices.slicing(name, columns[name]) for name in SLICES]
    found = bootstrap.intervals(["accuracy"], labels, candidate.predicted, serving.predicted,
                                len(plan.classes), [(c.ids, len(c.names)) for c in cuts], resamples=1000)
    right_c = candidate.predicted.argmax(1) == labels
    right_s = serving.predicted.argmax(1) == labels
    parts = [(np.ones(len(labels), bool), found[0]["accuracy"])]
    k = 1
    for c in cuts:
        for v in range(len(c.names)):
            parts.append((c.ids == v, found[k]["accuracy"]))
            k += 1
    out = {}
    for label, rule, tolerance in RULES:
        verdicts = []
        for i, (rows, interval) in enumerate(parts):
            if i and rows.sum() < MIN_ROWS:
                continue
            diff = right_c[rows].mean() - right_s[rows].mean()
            verdicts.append(bootstrap.worse_beyond("accuracy", diff, interval, tolerance, rule))
        out[label] = (verdicts[0], any(verdicts[1:]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="kinds to run, e.g. 'Biscoe 20%% scrambled'")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="noise-rules-"))
    write_data(work)
    from components.evaluator.executor import _plan, score_saved_model

    base_path, files = train(work, "clean", 40, 0)
    plan = _plan(base_path)
    import tensorflow as tf

    kinds = dict.fromkeys(SLICES, tf.string)
    serving = score_saved_model(base_path, files, plan, kinds)
    rows = []
    for kind, data, epochs, seed in [("equal (seed)", "clean", 40, s) for s in SEEDS] + WORSE:
        if args.only and kind not in args.only:
            continue
        path, eval_files = train(work, data, epochs, seed)
        candidate = score_saved_model(path, eval_files, plan, kinds)
        assert np.array_equal(candidate.labels, serving.labels), "the eval rows differ"
        accuracy = float(np.mean(candidate.predicted.argmax(1) == candidate.labels))
        rows.append((kind, seed, accuracy, judge(candidate, serving, plan, serving.columns)))
        print(f"  {kind:<18} seed {seed:>2}: accuracy {accuracy:.4f} (serving "
              f"{np.mean(serving.predicted.argmax(1) == serving.labels):.4f})", flush=True)
    kinds = list(dict.fromkeys(r[0] for r in rows))
    print("\n| rule | " + " | ".join(f"{k} ({sum(r[0] == k for r in rows)}): "
                                     + ("refused" if k.startswith("equal") else "let through") for k in kinds)
          + " |")
    print("|---" * (len(kinds) + 1) + "|")
    for label, _, _ in RULES:
        cells = []
        for k in kinds:  # whole split / whole split or a slice
            group = [r[3][label] for r in rows if r[0] == k]
            if k.startswith("equal"):
                cells.append(f"{sum(w for w, _ in group)} / {sum(w or s for w, s in group)}")
            else:
                cells.append(f"{sum(not w for w, _ in group)} / {sum(not (w or s) for w, s in group)}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
