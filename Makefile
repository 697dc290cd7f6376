# The gate is `make lint test`. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export TESTCONTAINERS_RYUK_DISABLED := true
export TESTCONTAINERS_CONNECTION_MODE := docker_host
export TC_HOST := 127.0.0.1

.PHONY: install engine fixtures test lint demo bench rules-doc clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

engine:
	bash fixtures/engine.sh
	bash fixtures/podman.sh

fixtures: install engine
	$(BIN)/python fixtures/build.py

test: install engine
	IMGAUDIT_REQUIRE_ENGINE=1 $(BIN)/pytest -q

lint: install
	$(BIN)/ruff check auditor tests benchmarks fixtures/build.py
	$(BIN)/mypy

demo: install
	@bash fixtures/demo.sh $(BIN)/imgaudit

bench: install engine
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/layers.py

rules-doc: install
	$(BIN)/imgaudit rules --format markdown

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
