"""The session's shared embedded runs (``two_days``: tests/e2e/two_days.py)."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.small_config import small_config
from tests.e2e.two_days import DATES, USERS_PER_DAY, TwoDays, run_local
from tests.lineage.test_service import _free_port, start_service


@pytest.fixture(scope="session")
def two_days(tmp_path_factory):
    """Generate two small days and run the model DAGs and the daily DAG for both; keep a copy."""
    root = tmp_path_factory.mktemp("two_days")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config, env = small_config(root, users_per_day=USERS_PER_DAY, lineage_url=url)
    served = root / "served.db"
    service = start_service(f"sqlite:///{served}", port, root / "service", config=config)
    try:
        done = run_local(env, "--days", str(len(DATES)))
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        shared = TwoDays(root, config, env, url, served, done.stdout)
        shutil.copytree(shared.data_root, shared.pristine, symlinks=True)
        yield shared
    finally:
        service.terminate()
        service.wait(timeout=120)
