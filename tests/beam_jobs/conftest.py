"""Small raw drops committed through the catalog, for job tests."""

from __future__ import annotations

import functools
import json

import pytest

from lineage.catalog import Catalog, Producer
from transforms.ingest import SOURCES


def web_line(i: int, **overrides) -> str:
    values = {"user_id": f"W{i:07d}", "first_name": f"Ann{i}", "last_name": "Lee", "email": f"a{i}@example.com",
              "phone": f"07700 900{i % 1000:03d}", "birth_date": "1990-01-02", "country": "GB", "zip": "AB1 2CD",
              "signup_ts": "2025-12-30T14:03:11", "channel": "organic", "employment": "Employed",
              "tenure_months": "12", "job_views_7d": "3", "applications_30d": "1", "resume_updated_days": "4",
              "last_login_days": "5", "about": "hello"}
    values.update(overrides)
    return ",".join(values[c] for c in SOURCES["web"].columns)


def mobile_line(i: int) -> str:
    return json.dumps({"uid": f"M{i:07d}", "name": {"given": "Bo", "family": "Chan"},
                       "contact": {"email": f"b{i}@example.com", "mobile": "+44 7700 900123"},
                       "dob": "02/01/1985", "country_code": "GB", "signup_epoch_ms": 1767139200000,
                       "employment_status": "UNEMPLOYED", "tenure_years": 1.5,
                       "activity": {"job_views_7d": 9, "applications_30d": 2}})


def partner_line(i: int) -> str:
    return f"P{i:07d};Lee, Cy;c{i}@example.com;0123456789;19800102;DE;10115;2025-01-01;S;3;4;5;2025-12-01;2025-12-31;n"


def commit_raw_drops(cfg, ds, web=(), mobile=(), partner=(), web_header=None, run_id="test-drop") -> dict[str, str]:
    """Commit the three raw drops of ``ds`` (lines without the header), as run ``run_id`` -> their
    versions by source."""
    catalog = Catalog(cfg)
    versions = {}
    bodies = {
        "web": [web_header or ",".join(SOURCES["web"].columns), *web],
        "mobile": list(mobile),
        "partner": [";".join(SOURCES["partner"].columns), *partner],
    }
    for name, lines in bodies.items():
        fmt = SOURCES[name]
        staged = catalog.stage(fmt.dataset, ds, run_id)
        suffix = "jsonl" if fmt.kind == "jsonl" else "csv"
        with catalog.fs.open(staged.path(f"users_{name}.{suffix}"), "wb") as fh:
            fh.write(("\n".join(lines) + "\n").encode())
        versions[name] = catalog.commit(staged, producer=Producer(run_id, "test-drop"), inputs=[],
                                        code_version="test").version
    return versions


@pytest.fixture
def commit_raw(cfg):
    """commit_raw(ds, web=[lines], mobile=[lines], partner=[lines], web_header=None) -> versions."""
    return functools.partial(commit_raw_drops, cfg)
