# `make run` starts the app, `make test` runs the whole test suite; both build .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: run test bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m streamlit run serve.py

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest

bench: $(VENV)/.dev
	$(PY) bench/train.py

clean:
	rm -rf $(VENV) .pytest_cache
