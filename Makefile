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

# The main job: the Procfile's processes (controller, encoder, network, learner, recorder
# over ZeroMQ, plus the Panel viewer) started by honcho's manager with restarts
# (`byob run`): trains a model, evaluates it, saves it under models/, records the run in
# runs.zarr, and stays up for further jobs until Ctrl-C. `honcho start` runs the same
# Procfile without restarts.
run: $(STAMP)
	@echo "viewer: http://127.0.0.1:$${BYOB_VIEWER_PORT:-$$(( $${BYOB_BASE_PORT:-5750} + 10 ))}/ (viewer.1 says when it is up)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/byob run

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
