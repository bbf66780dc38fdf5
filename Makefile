# Set-up is automatic: `make demo` and `make test` create .venv (the product: Python 3.11-3.13,
# numpy 2, current torch) and, where a Python 3.10 exists, .venv-lava beside it (Lava 0.10, which
# installs on 3.10 only; the lava/netx backends run there through exporters/lava/bridge.py), and
# reuse them afterwards (each stamp file is newer than pyproject.toml and its lock file).
# Every path is overridable: make VENV=/tmp/m311 LAVA_VENV=/tmp/lava310 install.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
LAVA_VENV  := .venv-lava
LAVA_BIN   := $(LAVA_VENV)/bin
LAVA_STAMP := $(LAVA_VENV)/.install-stamp
MODERN_OK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
LAVA_OK   := import sys; sys.exit(sys.version_info[:2] != (3, 10))
# First Python 3.11-3.13 that actually runs, 3.11 first (torch 2.13.0's CPU wheel; a pyenv shim on
# PATH may exist without that version selected), then the same under `pyenv root`.
PY_MODERN ?= $(shell for p in $$(command -v python3.11 python3.12 python3.13 python3 2>/dev/null) \
  $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.1[123].*/bin/python3 2>/dev/null | sort -V); do \
  "$$p" -c '$(MODERN_OK)' >/dev/null 2>&1 && echo "$$p" && break; done)
# First Python 3.10 that actually runs (for Lava's environment; none: the Lava backends are skipped).
PY310 ?= $(shell for p in $$(command -v python3.10 2>/dev/null) $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.10.*/bin/python3.10 2>/dev/null | sort -rV); do \
  "$$p" -c '$(LAVA_OK)' >/dev/null 2>&1 && echo "$$p" && break; done)
# spikingjelly (test-only reference) asks for torchvision, which would replace a CPU torch with a
# multi-GB CUDA build: installed apart, without its dependencies (it needs none we lack).
SPIKINGJELLY := spikingjelly==0.0.0.0.14
# pip check, less that one known gap (spikingjelly without torchvision; the tests need none of it).
PIP_CHECK = out=$$($(1)/python -m pip check 2>&1) || { echo "$$out" | grep -v '^spikingjelly .* requires torchvision' | grep . >&2 && exit 1 || true; }

.PHONY: install lava-env .venv-lava system-deps demo test dataset lint bench clean

install: $(STAMP) lava-env

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

# The product's environment. A .venv made with another Python (a 3.10 one, from before Lava had
# its own) is rebuilt, not reused. On 3.11 the lock applies, torch first and exactly (any looser
# spec may pull a CUDA build); on 3.12/3.13 pip resolves the ranges of pyproject.toml.
$(STAMP): pyproject.toml requirements.lock
	@if [ -e $(BIN)/python ] && ! $(BIN)/python -c '$(MODERN_OK)' >/dev/null 2>&1; then \
	  echo "$(VENV) was made with $$($(BIN)/python --version 2>&1 || echo a missing Python); rebuilding it with Python 3.11-3.13"; rm -rf $(VENV); \
	fi
	@if [ ! -x $(BIN)/python ]; then \
	  if [ -z "$(PY_MODERN)" ]; then \
	    echo "error: no Python 3.11, 3.12 or 3.13 found. Install one (e.g. 'pyenv install 3.11') or run 'make PY_MODERN=/path/to/python3.11'." >&2; exit 1; \
	  fi; \
	  echo "creating $(VENV) with $(PY_MODERN)"; $(PY_MODERN) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install -q --upgrade "pip>=24,<26"
	@if $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
	  set -x; $(BIN)/python -m pip install -q -c requirements.lock torch==2.13.0 && \
	  $(BIN)/python -m pip install -q -c requirements.lock -e '.[nir,onnx,test,docs]' && \
	  $(BIN)/python -m pip install -q --no-deps -c requirements.lock $(SPIKINGJELLY); \
	else \
	  set -x; $(BIN)/python -m pip install -q -e '.[nir,onnx,test,docs]' && $(BIN)/python -m pip install -q --no-deps $(SPIKINGJELLY); \
	fi
	@$(call PIP_CHECK,$(BIN))
	@touch $(STAMP)

# Lava's environment, where a Python 3.10 exists: Python 3.10 with the 2024 stack (numpy<2,
# torch 2.3) and the test tools, for the Lava leg of `make test`.
lava-env:
	@if [ -n "$(PY310)" ] || [ -x $(LAVA_BIN)/python ]; then $(MAKE) --no-print-directory $(LAVA_STAMP); \
	else echo "note: no Python 3.10 found: the lava and netx backends will be skipped (install one, e.g. 'pyenv install 3.10', then 'make .venv-lava')"; fi

.venv-lava: $(LAVA_STAMP)

$(LAVA_STAMP): pyproject.toml requirements-lava310.lock
	@if [ -e $(LAVA_BIN)/python ] && ! $(LAVA_BIN)/python -c '$(LAVA_OK)' >/dev/null 2>&1; then rm -rf $(LAVA_VENV); fi
	@if [ ! -x $(LAVA_BIN)/python ]; then \
	  if [ -z "$(PY310)" ]; then \
	    echo "error: Python 3.10 not found (lava-nc needs it). Install it (e.g. 'pyenv install 3.10') or run 'make PY310=/path/to/python3.10'." >&2; exit 1; \
	  fi; \
	  echo "creating $(LAVA_VENV) with $(PY310)"; $(PY310) -m venv $(LAVA_VENV); \
	fi
	$(LAVA_BIN)/python -m pip install -q --upgrade "pip>=24,<26"
	$(LAVA_BIN)/python -m pip install -q -c requirements-lava310.lock -e '.[lava,nir,onnx,test]'
	$(LAVA_BIN)/python -m pip install -q --no-deps -c requirements-lava310.lock $(SPIKINGJELLY)
	@$(call PIP_CHECK,$(LAVA_BIN))
	@touch $(LAVA_STAMP)

demo: install
	$(BIN)/delaysnn demo

# The whole suite on the product's environment (the lava/netx backends through the bridge, in
# .venv-lava), then, where .venv-lava exists, the Lava-dependent part in it, Lava in process:
# the tests marked lava, and those of netx.
test: install system-deps
	$(BIN)/ruff check .
	DELAYSNN_LAVA_PYTHON=$${DELAYSNN_LAVA_PYTHON:-$(if $(wildcard $(LAVA_BIN)/python),$(abspath $(LAVA_BIN)/python))} $(BIN)/python -m pytest -q
	@if [ -x $(LAVA_BIN)/python ]; then set -x; \
	  $(LAVA_BIN)/python -m pytest -q -p no:cacheprovider -m lava && \
	  $(LAVA_BIN)/python -m pytest -q -p no:cacheprovider -m "not lava" -k netx; \
	fi

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
	rm -rf $(VENV) $(LAVA_VENV) .pytest_cache .ruff_cache
