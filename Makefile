# The two commands a user needs: `make demo` and `make test` (README). Both create the
# environment from the pinned constraints if it is missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | sha256sum | cut -c1-12)

.PHONY: install demo demo-backfill test test-fast lint bench clean

install: $(STAMP)

$(STAMP): constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m pip check
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: install            ## generate sample data and run the DAG for three dates
	$(PY) -m runner.local --days 3

demo-backfill: install   ## the upstream-fix story: bad labels, fix, impact, backfill, check
	$(PY) -m runner.demo_backfill --days 3

test: install            ## the test suite (what CI runs)
	$(PY) -m pytest -q

test-fast: install       ## everything but the end-to-end DAG runs
	$(PY) -m pytest -q -m "not e2e"

lint: install
	$(VENV)/bin/ruff check .

bench: install           ## 100k users: steps vs plain pandas, gates, whole DAG; then gates, de-spam, statistics+drift at 1M rows (not tests)
	$(PY) -m bench.run --users 100000
	$(PY) -m expectations.bench --rows 1000000
	$(PY) -m lineage.bench_store --runs 100000
	$(PY) -m lineage.bench_service --runs 100000
	$(PY) -m bench.backfill --days 3 --users-per-day 2000
	$(PY) -m bench.despam --users 1000000
	$(PY) -m bench.statistics --rows 1000000 --columns 30 --repeats 3

clean:
	rm -rf _data
