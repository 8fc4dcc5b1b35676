# The two commands of the README's quick start. Both set up .venv first (idempotent).
PY := .venv/bin/python

.PHONY: setup run test test-fast benchmark schema clean

setup:
	@bash scripts/setup.sh

run: setup
	$(PY) pipelines/local_runner.py

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

benchmark: setup
	$(PY) benchmarks/penguin_vs_reference.py

schema: setup
	$(PY) -m pipelines.spec.json_schema --write

clean:
	rm -rf runs .pytest_cache
