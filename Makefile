# Two entry points that work on a fresh machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run train test test-slow bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job: the pipeline of the Procfile (controller, encoder, network, learner as
# separate processes over ZeroMQ) trains a model, evaluates it, saves it under models/
# and stays up for further jobs until Ctrl-C.
run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

# The same job in one process, exiting when done.
train: $(STAMP)
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
