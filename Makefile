# The two commands of the README's quick start. Both set up .venv first (idempotent).
PY := .venv/bin/python

.PHONY: setup setup-test run lint test test-fast benchmark quality schema clean

setup:  # .venv with the pinned stack: all a pipeline run needs (no root, no system packages)
	@bash scripts/setup.sh

setup-test:  # the same, plus the Debian packages the tests use (chromium, mariadb-server)
	@bash scripts/setup.sh --test

run: setup
	$(PY) pipelines/local_runner.py

lint: setup  # ruff (pyproject.toml's rules, line length 110), the layers' import contracts (import-linter), mypy
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy

test: setup-test lint
	$(PY) -m pytest -q

test-fast: setup-test lint
	$(PY) -m pytest -q -m "not slow"

benchmark: setup  # the penguin pipeline against TFX's example; 100k, 1M, 4M and 10M rows (scale.py); the bare script at penguin, 100k and 1M; slicing 1M eval rows
	$(PY) benchmarks/penguin_vs_reference.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/vs_script.py
	$(PY) benchmarks/predict.py
	$(PY) benchmarks/slicing.py

quality: setup  # the default model, each model family and type auto against tuned scikit-learn baselines on 18 datasets that packages ship
	$(PY) benchmarks/quality.py

schema: setup
	$(PY) -m pipelines.spec.json_schema --write

clean:
	rm -rf runs .pytest_cache
