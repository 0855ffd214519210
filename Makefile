# Set-up and entry points. `make demo`, `make test` and `make docs` create .venv (Python 3.10)
# when missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Python 3.10 is required by lava-nc 0.10.0 / lava-dl 0.6.0: PATH first, then pyenv's versions.
PYTHON310 ?= $(shell for p in $$(command -v python3.10 2>/dev/null) \
	$${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 /usr/bin/python3.10 \
	/usr/local/bin/python3.10; do [ -x "$$p" ] && "$$p" -c 'import sys; assert sys.version_info[:2]==(3,10)' \
	2>/dev/null && { echo "$$p"; break; }; done)

.PHONY: venv demo test test-fast lint docs bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x "$(PY)" ]; then \
	  if [ -z "$(PYTHON310)" ]; then \
	    echo "error: Python 3.10 not found (looked on PATH and in pyenv's versions folder)." \
	         "Install it or run 'make PYTHON310=/path/to/python3.10 ...'." >&2; exit 1; fi; \
	  echo "Creating $(VENV) with $(PYTHON310)"; \
	  "$(PYTHON310)" -m venv $(VENV); fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,docs]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m rouser_lava.cli.demo --out export/demo

test: $(STAMP)
	$(VENV)/bin/ruff check rouser_lava tests benchmarks examples docs
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m pytest -q tests

# The lint and the tests not marked lava or slow (markers in pyproject.toml): about 30 s on
# 2 cores, against 8-10 min for `make test`, which runs everything (as CI does).
# ROUSER_TEST_LAVA_NETS=N (e.g. `ROUSER_TEST_LAVA_NETS=8 make test`) runs the two slowest
# Lava tests on N random networks instead of 60 and 40 (tests/test_emulator.py).
# ROUSER_FUZZ_EXAMPLES=N runs the Hypothesis fuzz tests (tests/test_fuzz_*.py) on N
# random examples each instead of 20 fixed ones (about 20 s in all).
test-fast: $(STAMP)
	$(VENV)/bin/ruff check rouser_lava tests benchmarks examples docs
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -m "not lava and not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check rouser_lava tests benchmarks examples docs
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The documentation site (mkdocs.yml, docs/) into site/; --strict: any warning fails.
# `make test` builds it too (tests/test_docs_commands.py, marked slow), and checks that
# every command the README and docs/ show names programs, flags and targets that exist.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict -d site

# Every benchmark in benchmarks/ with short settings (a few minutes on 2 cores); writes
# benchmarks/RESULTS.md (figures, ratios, date, commit, CPU, threads, load).
bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) export/demo site
