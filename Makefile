# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_REPLICATIONS ?= 8

.PHONY: demo test test-quick lint bench bench-experiment clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cutover validate scenarios/*.yaml
	$(VENV)/bin/cutover timeline scenarios/fvm-2020.yaml --variant window-4w
	$(VENV)/bin/cutover run scenarios/fvm-2020.yaml --variants window-2w,window-4w \
		-n $(DEMO_REPLICATIONS) --seed 20201104 --report

# Line and branch coverage of sim/ (also of the commands and workers the tests start), with
# the floor of pyproject.toml's [tool.coverage.report] enforced.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q --cov --cov-report=term

# The edit loop: everything but the tests marked slow (notebooks, Dask, Chromium, region scale).
test-quick: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) -m benchmarks.bench_model

bench-experiment: $(STAMP)
	$(PY) -m benchmarks.bench_experiment

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
