VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip

.PHONY: lab test lint bench screenshots dist clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.stamp-lab: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[lab]'
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[lab,test]'
	touch $@ $(VENV)/.stamp-lab

## Start a real HAProxy lab and open the console on it.
lab: $(VENV)/.stamp-lab
	$(VENV)/bin/haconsole lab

## Run the whole test suite against every HAProxy binary found
## (TEST_JOBS workers; a module's tests stay on one worker with their lab; the 40
## slowest tests are listed at the end).
TEST_JOBS ?= 2
test: $(VENV)/.stamp-test
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadscope --durations=40

## Style (ruff) and types (mypy, settings in pyproject.toml).
lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check console tests
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info

## SVG screenshots of each view and theme, taken on a real lab.
screenshots: $(VENV)/.stamp-test
	$(PY) scripts/screenshots.py screenshots

## One file for hosts without package access: dist/haconsole.pyz (python3 >= 3.11).
dist: $(PY)
	$(PY) scripts/build_pyz.py dist/haconsole.pyz

## Performance benchmark on real HAProxy (long; not part of make test).
bench: $(VENV)/.stamp-test
	$(PY) bench/run.py $(BENCH_ARGS) && $(PY) bench/readme.py
