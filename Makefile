# One command installs and runs the platform (`make run`), one installs and runs the tests
# (`make test`). Everything lives in .venv; pins come from pyproject.toml and constraints.txt.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
PYTEST_ARGS ?=

.PHONY: run test test-slow test-fast lint typecheck imports bench install clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/aitp up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# The suite, checks first; the long fault campaigns (marked slow) have their own target.
test: lint typecheck imports
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# The long suites marked slow: kill -9 campaigns, the books against a fake MT5 terminal in
# its own process, risk limits through the running hot path, schema fuzzing, parity on the
# real data. CI runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

# The suite without the checks, for a quick loop while editing.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in $$(ls bench/*.py | grep -v '/_'); do \
	  name=$$(basename $$b .py); echo "== bench.$$name"; $(BIN)/python -m bench.$$name || exit 1; \
	done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Re-pin every transitive package after changing pyproject.toml.
lock: $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	( echo "# Every package of the environment, pinned: make installs with -c constraints.txt."; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^aitp' ) > constraints.txt
