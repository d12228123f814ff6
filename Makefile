# nbpipe: the two set-up commands of the README, and a few helpers.
#   make demo   creates .venv, installs nbpipe, runs the iris example pipeline twice
#   make test   creates .venv, installs everything (Chromium from apt when missing), runs every check
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv

.PHONY: demo test lint typecheck pytest js-test clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" "uv>=0.4"

$(VENV)/.installed: pyproject.toml constraints.txt labextension/package.json labextension/yarn.lock | $(UV)
	$(UV) pip install --python $(BIN)/python --compile-bytecode --constraint constraints.txt --editable ".[test]"
	$(BIN)/python -m compileall -q nbpipe >/dev/null  # bytecode even where PYTHONDONTWRITEBYTECODE is set
	touch $@

demo: $(VENV)/.installed
	$(BIN)/nbpipe run example_notebooks/iris_classifier.ipynb
	@echo "--- second run: every stage is restored from the cache ---"
	$(BIN)/nbpipe run example_notebooks/iris_classifier.ipynb

test: $(VENV)/.installed
	scripts/ensure-chromium
	$(MAKE) lint typecheck js-test pytest

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

js-test:
	cd labextension && PATH="$(CURDIR)/$(BIN):$$PATH" jlpm install --immutable && PATH="$(CURDIR)/$(BIN):$$PATH" jlpm lint:check && PATH="$(CURDIR)/$(BIN):$$PATH" jlpm test

# The browser tests drive sync Playwright, whose event loop cannot share a process
# with pytest-jupyter's: they run in a second pytest process.
pytest:
	$(BIN)/pytest --ignore=tests/ui
	$(BIN)/pytest tests/ui

clean:
	rm -rf $(VENV) labextension/node_modules labextension/lib nbpipe/labextension
