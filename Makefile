# Set-up is automatic: `make demo` and `make test` create .venv (Python 3.10) on first use
# and reuse it afterwards (the stamp file is newer than pyproject.toml and requirements.lock).
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
# First Python 3.10 that actually runs (a pyenv shim on PATH may exist without a 3.10 selected).
PY310 ?= $(shell for p in $$(command -v python3.10 2>/dev/null) $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.10.*/bin/python3.10 2>/dev/null | sort -rV); do \
  "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1 && echo "$$p" && break; done)

.PHONY: install system-deps demo test dataset lint bench clean

install: $(STAMP)

# espeak-ng (speech for the spoken-digits data set and its tests) is a system package: installed
# when missing and possible (root, or password-less sudo, with apt-get), else one line says how.
system-deps:
	@if ! command -v espeak-ng >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi; \
	  if [ "$$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing espeak-ng libsndfile1 (apt-get)"; \
	    $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq espeak-ng libsndfile1 >/dev/null; \
	  else \
	    echo "error: espeak-ng not found: install it with 'sudo apt-get install -y espeak-ng libsndfile1' (Debian/Ubuntu), 'dnf install espeak-ng' (Fedora) or 'brew install espeak-ng' (macOS)" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml requirements.lock
	@if [ ! -x $(BIN)/python ]; then \
	  if [ -z "$(PY310)" ]; then \
	    echo "error: Python 3.10 not found (lava-nc needs it). Install it (e.g. 'pyenv install 3.10') or run 'make PY310=/path/to/python3.10'." >&2; exit 1; \
	  fi; \
	  echo "creating $(VENV) with $(PY310)"; $(PY310) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install -q --upgrade "pip>=24,<26"
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[all]'
	$(BIN)/python -m pip check
	@touch $(STAMP)

demo: install
	$(BIN)/delaysnn demo

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Everything but the tests marked slow (training, whole data sets, many draws) or lava (a Lava
# process per network): the inner loop, under 2 minutes. `make test` runs them all.
.PHONY: test-fast
test-fast: install system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow and not lava"

# The spoken-digits data set (synthesized speech in the SHD layout; ~3000 utterances, a few minutes).
dataset: install system-deps
	$(BIN)/delaysnn make-dataset spoken-digits -o data/spoken-digits

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns a broken link or a stale
# API/CLI reference into an error, so CI catches it.
.PHONY: docs
docs: install
	$(BIN)/mkdocs build --strict --quiet --site-dir site

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
