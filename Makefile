# make test   : create .venv, install scaledql with its test extras, lint, run every test
# make book   : create .venv with the book extras and build the book into _build/html
# make test-fast : the same tests without those marked slow
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: test test-fast lint book clean

$(BIN)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
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
	$(BIN)/jupyter-book build . -W -n --keep-going

clean:
	rm -rf _build .pytest_cache .ruff_cache
