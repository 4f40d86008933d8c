# Two entry points: `make run` (set-up included) and `make test`. Everything installs from requirements.lock.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/census.yaml
PYTEST_ARGS ?=
# The suite runs on TEST_WORKERS pytest-xdist workers; tests/conftest.py keeps each file's tests on one worker.
TEST_WORKERS ?= 2
# Python 3.10 (TFX 1.16): python3.10 on PATH, else the pyenv-installed one.
ifndef PYTHON310
PYTHON310 := $(shell for p in "$$(command -v python3.10)" \
	"$$(PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep '^3\.10' | tail -n1) pyenv which python3.10 2>/dev/null)" \
	$$HOME/.pyenv/versions/3.10.*/bin/python3.10; do \
	[ -n "$$p" ] && "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)
endif

.PHONY: install install-test run test test-fast data data-support data-atis data-funnel lock clean-runs bench-synthetic bench-census bench-tabular bench-support bench-atis bench-funnel bench-serving bench-scale bench-pipeline

install: $(VENV)/.installed

# requirements.lock (run) is resolved within requirements-test.lock (tests: + the kubeflow/airflow extras,
# hypothesis), so either install leaves the other's packages at the same versions.
$(VENV)/.installed: requirements.lock setup.py
	@test -n "$(PYTHON310)" || { echo "error: Python 3.10 not found (needed by TFX 1.16): install it or set PYTHON310=/path/to/python3.10"; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode -r requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --no-deps -e .
	@touch $@

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode -r requirements-test.lock
	@touch $@

data: install
	@test -f data/census/train.csv -a -f data/census/test.csv || $(VENV)/bin/mtl data census --out data/census

data-support: install
	@test -f data/support/train.csv -a -f data/support/eval.csv || $(VENV)/bin/mtl data support --out data/support

data-funnel: install
	@test -f data/funnel/train.csv -a -f data/funnel/eval.csv || $(VENV)/bin/mtl data funnel --out data/funnel

data-atis: install
	@test -f data/atis/train.csv -a -f data/atis/eval.csv -a -f data/atis/test.csv || $(VENV)/bin/mtl data atis --out data/atis

run: install
	@if grep -q "data/census/" "$(CONFIG)"; then $(MAKE) --no-print-directory data; fi
	@if grep -q "data/support/" "$(CONFIG)"; then $(MAKE) --no-print-directory data-support; fi
	@if grep -q "data/atis/" "$(CONFIG)"; then $(MAKE) --no-print-directory data-atis; fi
	@if grep -q "data/funnel/" "$(CONFIG)"; then $(MAKE) --no-print-directory data-funnel; fi
	$(VENV)/bin/mtl run --config $(CONFIG)

test: install-test
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-fast: install-test
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup -m "not slow" $(PYTEST_ARGS)

# Benchmarks (print a table, write bench/results/*.json); see README "Multi-task benchmarks".
bench-synthetic: install
	$(PY) -m bench.mmoe_synthetic

bench-census: data
	$(PY) -m bench.census

# GBDT vs ours per task on census + penguins, wage, movies, loans (data out of pinned wheels; bench/tabular.py).
bench-tabular: data
	$(PY) -m bench.tabular

bench-support: install
	$(PY) -m bench.support

bench-atis: install
	$(PY) -m bench.atis

# CTR / CVR / CTCVR on generated impressions: single-task, shared_bottom, mmoe, ESMM, AITM (bench/funnel.py).
bench-funnel: install
	$(PY) -m bench.funnel

bench-serving: install
	$(PY) -m bench.serving

bench-scale: data
	$(PY) -m bench.scale

# The census pipeline (mtl run --no-cache) next to a bare pandas + Keras script doing the same job (bench/pipeline.py).
bench-pipeline: data
	$(PY) -m bench.pipeline

# Re-resolve the locks (Python 3.10, Linux x86_64, glibc 2.31+): the test set first, then the run set within it.
LOCK_TARGET := --python-version 3.10 --python-platform x86_64-manylinux_2_31
lock:
	uv pip compile $(LOCK_TARGET) requirements-test.in -o requirements-test.lock
	uv pip compile $(LOCK_TARGET) requirements.in -c requirements-test.lock -o requirements.lock

clean-runs:
	rm -rf runs

# Config reference generated from the pydantic models in pipeline/config.py (tests/test_docs.py checks it is current).
.PHONY: docs
docs: install
	$(PY) -m pipeline.docs --write
