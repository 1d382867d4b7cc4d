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
# and stays up for further jobs until Ctrl-C. The Procfile's viewer serves the live page.
run: $(STAMP)
	@echo "viewer: http://127.0.0.1:$${BYOB_VIEWER_PORT:-$$(( $${BYOB_BASE_PORT:-5750} + 10 ))}/ (viewer.1 says when it is up)"
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
