# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/logmarketd $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src daemon tests
	$(BIN)/ruff format --check src daemon tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.bench.handler
	$(BIN)/python -m tests.bench.ingest
	$(BIN)/python -m tests.bench.loghub
	$(BIN)/python -m tests.bench.miner_stream
	$(BIN)/python -m tests.bench.redact
	$(BIN)/python -m tests.bench.agents
	$(BIN)/python -m tests.bench.corpus_score
	$(BIN)/python -m tests.bench.tail
	$(BIN)/python -m tests.bench.marketplace

clean:
	rm -rf $(VENV) .logmarket .pytest_cache .mypy_cache .ruff_cache
