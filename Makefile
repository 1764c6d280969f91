# hwprune: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv if missing and install everything (Debian packages only when missing).

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.hwprune-installed
JOBS    ?= 2
export YOWASP_CACHE_DIR := $(CURDIR)/$(VENV)/.yowasp-cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml tools/setup.sh
	bash tools/setup.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(PY) -m hwprune.demo

test: setup
	$(PY) -m pytest -n $(JOBS) -q tests

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf build .pytest_cache
