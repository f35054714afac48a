# make test   : create .venv, install scaledql with its test and book extras, lint, run every
#               test (the book's chapters included, executed at the smoke preset)
# make book [PRESET=cpu] [FRESH=1] : execute every chapter with papermill at PRESET (reusing
#               committed run records unless FRESH=1), then build the HTML into _build/html
# make test-fast : the tests not marked slow
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
PRESET ?= cpu
FRESH ?=

.PHONY: test test-fast lint book clean

$(BIN)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,book]"
	touch $@

$(BIN)/.installed-book: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book]"
	touch $@

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: lint
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

book: $(BIN)/.installed-book
	$(BIN)/scaledql book --preset $(PRESET) $(if $(filter 1 yes true,$(FRESH)),--fresh)

clean:
	rm -rf _build book/_executed .pytest_cache .ruff_cache
