"""The one Airflow REST client: login, re-login on an expired token, errors that name the call.
The real Airflow: tests/e2e/test_backfill_airflow.py and tests/e2e/deployment/."""

import httpx
import pytest

from user_pipeline.airflow_api import AirflowApi, AirflowApiError


def _airflow(calls: list, *, expire_first: bool = False):
    tokens = iter(["jwt-1", "jwt-2"])
    expired = {"done": not expire_first}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path, request.headers.get("authorization")))
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": next(tokens)})
        if not expired["done"]:
            expired["done"] = True
            return httpx.Response(401, json={"detail": "Token expired"})
        # The run id quoted in the path (it holds ":" and "+").
        if request.url.raw_path == b"/api/v2/dags/d/dagRuns/manual__2026-01-01T00%3A00%3A00%2B00%3A00":
            return httpx.Response(200, json={"dag_run_id": "manual__2026-01-01T00:00:00+00:00", "state": "success"})
        return httpx.Response(404, json={"detail": "Not Found"})

    return httpx.Client(base_url="http://airflow", transport=httpx.MockTransport(handler))


def test_a_user_logs_in_once_and_again_when_the_token_expired():
    calls: list = []
    api = AirflowApi("http://airflow", "admin", "pw", client=_airflow(calls, expire_first=True))
    assert api.run("d", "manual__2026-01-01T00:00:00+00:00")["state"] == "success"
    assert [c[1] for c in calls] == ["/auth/token", calls[1][1], "/auth/token", calls[1][1]]
    assert calls[1][2] == "Bearer jwt-1" and calls[3][2] == "Bearer jwt-2"


def test_a_token_is_sent_as_is_and_never_refreshed():
    calls: list = []
    api = AirflowApi("http://airflow", token="tok", client=_airflow(calls, expire_first=True))
    with pytest.raises(AirflowApiError, match=r"Airflow GET /api/v2/dags/d: 401") as failed:
        api.dag("d")
    assert failed.value.status == 401 and calls == [("GET", "/api/v2/dags/d", "Bearer tok")]


def test_errors_name_the_call_and_its_status_and_an_absent_airflow_has_none():
    api = AirflowApi("http://airflow", token="tok", client=_airflow([]))
    with pytest.raises(AirflowApiError, match=r"GET /api/v2/dags/other/dagRuns/r1: 404 .*Not Found") as failed:
        api.run("other", "r1")
    assert failed.value.status == 404
    gone = AirflowApi("http://127.0.0.1:9", token="tok", timeout_s=2)
    with pytest.raises(AirflowApiError, match="did not answer GET /api/v2/dags/d") as failed:
        gone.dag("d")
    assert failed.value.status is None
