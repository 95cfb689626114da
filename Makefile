# Every target sets up what it needs first, so each README command works on a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
TORCH_REQ := $(shell grep -E '^torch==' constraints.txt)
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
UNAME := $(shell uname -s)
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
JOBS ?= 2

.PHONY: setup chromium lab test test-fast test-browser student data bench site clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(VENV)/.installed  ## create .venv and install the course (idempotent)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch first, on its own: the CPU build on Linux (a local wheel if pip can find one,
# else PyTorch's CPU index), the default build elsewhere.
$(VENV)/.torch: constraints.txt | $(VENV)/bin/python
ifeq ($(UNAME),Linux)
	$(PIP) install --no-deps --no-index "$(TORCH_REQ)" 2>/dev/null \
	  || $(PIP) install --no-deps --index-url $(TORCH_CPU_INDEX) "$(TORCH_REQ)"
else
	$(PIP) install --no-deps "$(TORCH_REQ)"
endif
	touch $@

$(VENV)/.installed: pyproject.toml constraints.txt $(VENV)/.torch
	$(PIP) install -c constraints.txt --config-settings editable_mode=compat -e ".[dev]"
	touch $@

student: setup  ## write the student handout into student/ (keeps a student's edits)
	$(PY) -m course_tools student --out student

data: setup  ## rebuild course_lib/data (visible-check answers, demos' precomputed results)
	$(PY) -m course_tools data

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# The browser tests drive Debian's Chromium through Playwright (which never downloads a browser
# of its own). Installed with apt-get only when missing, so the second run costs nothing.
CHROMIUM ?= /usr/bin/chromium

chromium:  ## install Debian's Chromium for the browser tests, if missing (apt-get)
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "no $(CHROMIUM) and no apt-get: browser tests skipped (set CHROMIUM=/path/to/chromium)"; \
	fi

lab: setup  ## write the student handout and open it (and only it) in JupyterLab on 127.0.0.1
	$(PY) -m course_tools lab --out student

test: setup chromium  ## lint + unit tests + notebooks under nbval + grader + site + browser tests
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(JOBS) --dist loadfile -m "not browser"
	CHROMIUM=$(CHROMIUM) $(PY) -m pytest -m browser

test-browser: setup chromium  ## only the browser tests (JupyterLab + Chromium): every notebook, every slider
	CHROMIUM=$(CHROMIUM) $(PY) -m pytest -m browser

test-fast: setup  ## unit tests only (skips notebook runs and training)
	$(PY) -m pytest -m "not slow and not browser"

# Stable-Baselines3 is a benchmark-only reference (Part 3's SAC speed row), never a course dependency.
$(VENV)/.bench: pyproject.toml constraints.txt $(VENV)/.installed
	$(PIP) install -c constraints.txt --config-settings editable_mode=compat -e ".[dev,bench]"
	touch $@

bench: setup chromium $(VENV)/.bench  ## print the benchmark table, write benchmarks/results/latest.json
	CHROMIUM=$(CHROMIUM) $(PY) -m benchmarks

site: setup  ## the course as static HTML in _site/ (executed copies; offline; open _site/index.html)
	$(PY) -m course_tools.website --out _site

clean:  ## remove generated files (not .venv)
	rm -rf student build _site grading_out .pytest_cache .ruff_cache
