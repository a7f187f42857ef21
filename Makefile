# The two commands README.md gives: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint bench bench-api bench-page bench-insight bench-connectors clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install -q -e .

run: venv
	$(BIN)/whoknows demo --serve 8080

test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/ruff check service tests bench
	$(BIN)/mypy service --ignore-missing-imports

bench: venv
	test -f bench/out/data/queries.txt || $(BIN)/python bench/generate.py bench/out/data
	$(BIN)/python bench/run.py bench/out/data --db bench/out/bench.db

bench-page: venv
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python bench/page_load.py --n 30

bench-insight: venv
	test -f bench/out/insight.db || cp bench/out/bench.db bench/out/insight.db
	$(BIN)/python bench/insight.py --db bench/out/insight.db

bench-api: venv
	$(BIN)/python bench/api_load.py --workers 2 --threads 1

bench-connectors: venv
	$(BIN)/python bench/connectors.py $(if $(PERCEVAL_PYTHON),--perceval-python $(PERCEVAL_PYTHON))

clean:
	rm -rf $(VENV) var
