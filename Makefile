# The two commands a user needs: `make demo` and `make test` (README). Both create the
# environment from the pinned constraints if it is missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | sha256sum | cut -c1-12)

.PHONY: install demo demo-backfill deploy deploy-celery test test-fast lint bench bench-id-merge baselines-venv clean

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
	$(PY) -m user_pipeline.runner.local --days 3

demo-backfill: install   ## the upstream-fix story: bad labels, fix, impact, backfill, check
	$(PY) -m user_pipeline.runner.demo_backfill --days 3

deploy: install          ## a real Airflow on loopback (LocalExecutor, SQLite) + lineage serve; runs 2 dates; Ctrl-C stops it
	$(PY) -m user_pipeline.deploy up --run-days 2

# CeleryExecutor needs a metadata database server: a throwaway PostgreSQL (.ci/postgres.sh) for the
# deployment's lifetime; the deployment starts its Redis broker (Debian's redis-server) itself.
deploy-celery: install   ## the same with CeleryExecutor: two workers, Redis broker, metadata on PostgreSQL
	.ci/with-postgres.sh sh -c '$(PY) -m user_pipeline.deploy up --executor celery --workers 2 --metadata-db "$$LINEAGE_PG_URL" --run-days 2'

# Two pytest-xdist workers: a module's tests stay together, modules sharing session fixtures (the
# real deployment; the two embedded dates) share one worker, the slowest go first
# (tests/conftest.py). TEST_WORKERS=1 runs on one worker.
TEST_WORKERS ?= 2
test: install            ## the test suite (what CI runs)
	$(PY) -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: install       ## everything but the end-to-end DAG runs
	$(PY) -m pytest -q -m "not e2e"

lint: install            ## ruff, and the layers of docs/architecture.md (import-linter; also a test)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install           ## per-task overhead of one small date; 100k users: steps vs plain pandas, gates, whole DAG; then gates, de-spam, statistics+drift at 1M rows (not tests)
	$(PY) -m bench.overhead --users 2000
	$(PY) -m bench.run --users 100000
	$(PY) -m bench.gates --rows 1000000
	$(PY) -m bench.lineage_store --runs 100000
	$(PY) -m bench.lineage_service --runs 100000
	.ci/with-postgres.sh sh -c '$(PY) -m bench.lineage_service --runs 100000 --store "$$LINEAGE_PG_URL"'
	$(PY) -m bench.lineage_service --runs 1000000
	.ci/with-postgres.sh sh -c '$(PY) -m bench.lineage_service --runs 1000000 --store "$$LINEAGE_PG_URL"'
	$(PY) -m bench.backfill --days 2 --users-per-day 2000
	$(PY) -m bench.despam --users 1000000
	$(PY) -m bench.statistics --rows 1000000 --columns 30 --repeats 3
	$(MAKE) bench-id-merge

# recordlinkage (pandas<3) and Splink never go into .venv: the ID-merge baselines get their own.
BASELINES_VENV ?= .baselines-venv

baselines-venv:
	test -x $(BASELINES_VENV)/bin/python || $(PYTHON) -m venv $(BASELINES_VENV)
	$(BASELINES_VENV)/bin/pip install --quiet recordlinkage==0.16 splink==5.0.0 duckdb==2.0.1

bench-id-merge: install baselines-venv  ## ID-merge: FEBRL1/FEBRL4 ours vs recordlinkage vs Splink; 100k and 1M users
	$(PY) -m bench.id_merge_side_by_side --baselines-python $(BASELINES_VENV)/bin/python
	$(PY) -m bench.id_merge_scale --users 100000 1000000 --duplicate-rate 0.4  # about 15% of the records repeat a person

clean:
	rm -rf _data
