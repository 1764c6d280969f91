# hwprune: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv if missing and install everything (Debian packages only when missing).

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.hwprune-installed
# The optional Keras/QKeras frontend is tested in its own venv: TensorFlow never enters .venv.
KVENV   ?= .venv-keras
KPY     := $(KVENV)/bin/python
KSTAMP  := $(KVENV)/.hwprune-installed
JOBS    ?= 2
export YOWASP_CACHE_DIR := $(CURDIR)/$(VENV)/.yowasp-cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup setup-keras demo test test-main test-keras test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml tools/setup.sh
	bash tools/setup.sh $(VENV)
	touch $(STAMP)

setup-keras: $(KSTAMP)

$(KSTAMP): pyproject.toml tools/setup_keras.sh
	bash tools/setup_keras.sh $(KVENV)
	touch $(KSTAMP)

demo: setup
	$(PY) -m hwprune.demo

# `make test` is the single CI command: the main suite in .venv (tests/keras is excluded by path in
# pyproject.toml's addopts), then tests/keras alone in .venv-keras.
test: test-main test-keras

# Cases marked `exhaustive` (the rest of a matrix whose every kind runs here) wait for `make test-all`.
# worksteal: an idle worker takes queued tests from a busy one, so a few long tests do not end the run alone.
test-main: setup
	$(PY) -m pytest -n $(JOBS) --dist worksteal -q --durations=40 -m "not exhaustive" tests

test-all: setup setup-keras
	$(PY) -m pytest -n $(JOBS) --dist worksteal -q tests
	TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 $(KPY) -m pytest -n $(JOBS) -q tests/keras

test-keras: setup setup-keras
	TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 $(KPY) -m pytest -n $(JOBS) -q tests/keras

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf build .pytest_cache
