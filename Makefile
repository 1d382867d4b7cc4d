# Two entry points that work on a fresh machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job: train a model on the digits, evaluate it and save it under models/.
run: $(STAMP)
	$(BIN)/byob train

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The accuracy target over split seeds 0-4 (several minutes).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/byob bench

clean:
	rm -rf $(VENV) .pytest_cache
