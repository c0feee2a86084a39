# The two commands (see README): `make reports` and `make test`. Each sets up .venv first.
# Needs only Python 3.11, pip and make; `make test` also installs Debian's chromium for the
# browser tests (apt-get, as root or through sudo).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PARAMS ?= params/*.yaml
# Scheduled runs must not pick up a kernelspec or config from the user's Jupyter path.
export JUPYTER_PATH :=
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: reports test bench chromium clean help
help:
	@echo "make reports   set up .venv and run every report on the demo study into outputs/"
	@echo "make test      set up .venv (+ test tools, chromium) and run the whole test suite"
	@echo "make bench     run every benchmark in benchmarks/ and print one table"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

reports: $(STAMP)
	$(PY) -m trialkit run $(PARAMS)

# Debian's chromium for the browser tests; never playwright's own browser download.
# Without root or sudo the browser tests skip with the reason, except under CI=true.
chromium:
	@if command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true >/dev/null 2>&1; then SUDO=sudo; \
	else echo "make: chromium is missing and apt-get needs root: install Debian's chromium" \
	          "(apt-get install chromium); the browser tests will skip" >&2; \
	     [ "$$CI" = true ] && exit 1; exit 0; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null

test: $(TEST_STAMP) chromium
	$(PY) -m pytest -n 2 -q -rs

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf outputs/*/ .pytest_cache
