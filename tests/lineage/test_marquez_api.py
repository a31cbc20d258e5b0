"""Marquez's API v1 reads of ``lineage serve``, driven by the real marquez-python client against a
real ``lineage serve`` process, every answer validated against Marquez's published OpenAPI spec.

The store holds the demo's story (tests/lineage/test_queries.py, plus an Airflow task run of the
provider: a job with no datasets) and other producers' events: Spark-shaped (namespaces
``s3://bucket``, ``postgres://host:5432`` and ``postgres://replica:5432``, dataset names with
``/``, version facets, a parent application run with no datasets, a facet without
``_producer``/``_schemaURL``) and dbt-shaped (reads of our curated dataset and of Spark's table
without version facets, an output without one, a parent run never reported); a source table in
``postgres://crm:5432`` that dbt and Spark only ever read without a version, its name also held by
the copy Spark writes (with a version) to ``postgres://replica:5432``.

marquez-python 0.50 has no method for a run's facets, job versions, search or the lineage graph:
those reads go through the client's own request helper (``_url`` / ``_get``: its URL encoding,
headers and error handling), the rest through its public methods.

The spec is read where the project's README says it is (``../shared/marquez/openapi.yml`` beside
the checkout, or ``$MARQUEZ_OPENAPI``), never copied. Its known quirks (its README) and the ones
met here are handled in ``MarquezSpec``, each said where it is.
"""

from __future__ import annotations

import copy
import os
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from marquez_client import MarquezClient
from marquez_client.errors import APIError

from bench.lineage_synth import EventFactory, ds
from lineage.queries.marquez import dataset_version_id
from lineage.service.paths import routed_path
from tests.lineage.test_queries import D3, story_events
from tests.lineage.test_service import _free_port, start_service

SPEC_PATH = Path(os.environ.get("MARQUEZ_OPENAPI", Path(__file__).resolve().parents[3] / "shared/marquez/openapi.yml"))
SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark"
DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/dbt"
OL = "https://openlineage.io/spec"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
S3, PG, REPLICA, CRM = "s3://bucket", "postgres://host:5432", "postgres://replica:5432", "postgres://crm:5432"
CUSTOMERS = "crm.public.customers"  # in CRM only ever read without a version; in REPLICA written with one


# -- the spec --------------------------------------------------------------------------------------
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # jsonschema checks date-time only with rfc3339-validator installed: checked here instead.
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _drop_empty_types(node: Any) -> Any:
    """The spec's ``type:`` left empty (SearchResult.name, .updatedAt) is YAML null, which no
    validator takes as a type: an empty type constrains nothing, so it is dropped."""
    if isinstance(node, dict):
        return {k: _drop_empty_types(v) for k, v in node.items() if not (k == "type" and v is None)}
    if isinstance(node, list):
        return [_drop_empty_types(v) for v in node]
    return node


class MarquezSpec:
    """Response schemas of Marquez's OpenAPI spec, by route, as JSON Schema validators."""

    def __init__(self, path: Path):
        document = yaml.safe_load(path.read_text())
        self.paths = document["paths"]
        self.components = _drop_empty_types(document["components"])
        # GraphNode.data is a oneOf of Dataset and Job, two schemas without required properties,
        # so every object matches both and oneOf fails on genuine Marquez output (the spec's
        # README). Nodes are checked with data as any object, and the data checked apart
        # (``check_graph``): by the schema its node type names, and against Marquez's documented
        # responses.
        self.components["schemas"]["GraphNode"]["properties"]["data"] = {"type": "object"}

    def response_schema(self, route: str) -> dict:
        responses = self.paths[route]["get"]["responses"]
        ok = responses.get("200", responses.get(200))  # some codes are YAML integers (the README)
        return ok["content"]["application/json"]["schema"]

    def check(self, instance: Any, route: str | None = None, *, schema: dict | None = None) -> None:
        """Raise jsonschema.ValidationError unless ``instance`` is a valid answer of ``route``."""
        chosen = schema if schema is not None else self.response_schema(route)
        validator = jsonschema.Draft4Validator({**copy.deepcopy(chosen), "components": self.components},
                                               format_checker=FORMATS)
        validator.validate(instance)

    def ref(self, name: str) -> dict:
        return {"$ref": f"#/components/schemas/{name}"}


@pytest.fixture(scope="module")
def spec() -> MarquezSpec:
    if not SPEC_PATH.is_file():
        pytest.skip(f"Marquez's OpenAPI spec is not at {SPEC_PATH} (set MARQUEZ_OPENAPI)")
    return MarquezSpec(SPEC_PATH)


# -- the store ---------------------------------------------------------------------------------------
def _facet(producer: str, schema: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": schema, **fields}


def _schema(producer: str, *fields: tuple[str, str]) -> dict[str, Any]:
    return _facet(producer, f"{OL}/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                  fields=[{"name": n, "type": t} for n, t in fields])


def _dataset(producer: str, namespace: str, name: str, version: str | None = None, *,
             fields: tuple = (), **facets: Any) -> dict[str, Any]:
    all_facets = {"dataSource": _facet(producer, f"{OL}/facets/1-0-1/DatasourceDatasetFacet.json#/$defs/"
                                                 "DatasourceDatasetFacet", name=namespace, uri=namespace), **facets}
    if version is not None:
        all_facets["version"] = _facet(producer, f"{OL}/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/"
                                                 "DatasetVersionDatasetFacet", datasetVersion=version)
    if fields:
        all_facets["schema"] = _schema(producer, *fields)
    return {"namespace": namespace, "name": name, "facets": all_facets}


def _event(kind: str, time: str, run_id: str, namespace: str, job: str, producer: str, *, run_facets=None,
           job_facets=None, inputs=(), outputs=()) -> dict[str, Any]:
    return {"eventType": kind, "eventTime": time, "producer": producer, "schemaURL": RUN_EVENT,
            "run": {"runId": run_id, "facets": run_facets or {}},
            "job": {"namespace": namespace, "name": job, "facets": job_facets or {}},
            "inputs": list(inputs), "outputs": list(outputs)}


def _parent(producer: str, namespace: str, job: str, run_id: str) -> dict[str, Any]:
    return _facet(producer, f"{OL}/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet",
                  job={"namespace": namespace, "name": job}, run={"runId": run_id})


def _run_id() -> str:
    return str(uuid.uuid4())


def spark_events(day: str, at: str, *, raw_version: str, table_version: str) -> tuple[list[dict], str]:
    """A Spark application ``events_loader`` (no datasets) and its job ``events_loader.load_events``,
    loading the day's S3 drop into PostgreSQL (both with version facets); returns its events and
    the job's run id."""
    app, run = _run_id(), _run_id()
    job_facets = {"jobType": _facet(SPARK, f"{OL}/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                                    integration="SPARK", jobType="SQL_JOB", processingType="BATCH")}
    run_facets = {
        "parent": _parent(SPARK, "spark", "events_loader", app),
        "spark_version": _facet(SPARK, f"{OL}/2-0-2/OpenLineage.json#/$defs/RunFacet", **{"spark-version": "3.5.1"}),
        "spark_properties": {"properties": {"spark.master": "local[2]"}},  # sent without _producer / _schemaURL
    }
    raw = _dataset(SPARK, S3, f"raw/events/{day}", raw_version, fields=(("user_id", "string"), ("event", "string")))
    table = _dataset(SPARK, PG, "warehouse.public.events", table_version,
                     fields=(("user_id", "varchar"), ("event", "varchar"), ("ds", "date")))
    table["outputFacets"] = {"outputStatistics": _facet(
        SPARK, f"{OL}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
        rowCount=1000)}
    t0, t1, t2, t3 = (f"{at}T00:00:0{i}Z" for i in range(4))
    return [
        _event("START", t0, app, "spark", "events_loader", SPARK, job_facets=job_facets),
        _event("START", t1, run, "spark", "events_loader.load_events", SPARK, run_facets=run_facets,
               job_facets=job_facets, inputs=[raw], outputs=[table]),
        _event("COMPLETE", t2, run, "spark", "events_loader.load_events", SPARK, run_facets=run_facets,
               job_facets=job_facets, inputs=[raw], outputs=[table]),
        _event("COMPLETE", t3, app, "spark", "events_loader", SPARK, job_facets=job_facets),
    ], run


def replica_events(at: str) -> tuple[list[dict], str]:
    """A Spark job copying Spark's table and the CRM's customers (a JDBC source: no version facet)
    to a replica: the same names in another namespace."""
    run = _run_id()
    sources = [_dataset(SPARK, PG, "warehouse.public.events", "pg-2"), _dataset(SPARK, CRM, CUSTOMERS)]
    copies = [_dataset(SPARK, REPLICA, "warehouse.public.events", "replica-1", fields=(("user_id", "varchar"),)),
              _dataset(SPARK, REPLICA, CUSTOMERS, "replica-c1", fields=(("customer_id", "varchar"),))]
    return [_event("START", f"{at}T00:00:00Z", run, "spark", "events_replicator.copy", SPARK, inputs=sources),
            _event("COMPLETE", f"{at}T00:00:05Z", run, "spark", "events_replicator.copy", SPARK, inputs=sources,
                   outputs=copies)], run


def dbt_events(time: str, *, spark_table: bool = True) -> tuple[list[dict], str]:
    """A dbt model joining our curated users, the CRM's customers (a dbt source) and Spark's events
    (if ``spark_table``), none of them with a version facet, under a parent run
    (``dbt-run-analytics``) never reported."""
    run = _run_id()
    job_facets = {
        "jobType": _facet(DBT, f"{OL}/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet", integration="DBT",
                          jobType="MODEL", processingType="BATCH"),
        "sourceCodeLocation": _facet(DBT, f"{OL}/facets/1-0-1/SourceCodeLocationJobFacet.json#/$defs/"
                                          "SourceCodeLocationJobFacet", type="git",
                                     url="https://github.com/acme/analytics/blob/4f2a/models/users_model.sql"),
    }
    inputs = [_dataset(DBT, "user_pipeline", "curated.users_clean"),
              _dataset(DBT, CRM, CUSTOMERS, fields=(("customer_id", "varchar"), ("email", "varchar")))]
    if spark_table:
        inputs.append(_dataset(DBT, PG, "warehouse.public.events"))
    model = _dataset(DBT, PG, "analytics.public.users_model", fields=(("user_id", "varchar"), ("events", "bigint")),
                     documentation=_facet(DBT, f"{OL}/facets/1-0-1/DocumentationDatasetFacet.json#/$defs/"
                                               "DocumentationDatasetFacet", description="Users with their events."))
    facets = {"parent": _parent(DBT, "dbt", "dbt-run-analytics", _run_id())}
    start = datetime.fromisoformat(time.replace("Z", "+00:00"))
    return [_event(kind, (start + timedelta(seconds=offset)).isoformat(), run, "dbt",
                   "analytics.public.users_model.build.run", DBT, run_facets=facets, job_facets=job_facets,
                   inputs=inputs, outputs=[model]) for kind, offset in (("START", 0), ("COMPLETE", 0.5))], run


class World:
    """What the store holds, and the ids the tests look for."""

    def __init__(self) -> None:
        story, before_fix = story_events()
        provider = EventFactory(start=datetime.fromisoformat("2026-03-01T12:00:00+00:00"))
        report = provider.run("beam_jobs.report", "report", D3, [ds("raw.users_web", D3, "rW3")],
                              [ds("reports.daily_counts", D3, "R3")], provider_events=True)
        self.task_job = report[0]["job"]["name"]  # the Airflow task's own job: no datasets
        spark1, self.spark_run = spark_events("2026-01-01", "2026-03-02", raw_version="etag-1",
                                              table_version="pg-1")
        spark2, _ = spark_events("2026-01-02", "2026-03-03", raw_version="etag-2", table_version="pg-2")
        replica, self.replica_run = replica_events("2026-03-04")
        # Between C3's commit and the D1 fix, before Spark's table existed.
        dbt_early, self.dbt_early = dbt_events(before_fix, spark_table=False)
        dbt_late, self.dbt_late = dbt_events("2026-03-05T00:00:00Z")
        self.events = story + report + spark1 + spark2 + replica + dbt_early + dbt_late


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def served(tmp_path_factory, world):
    """A ``lineage serve`` process holding the world's events: (base URL, marquez-python client)."""
    root = tmp_path_factory.mktemp("marquez")
    port = _free_port()
    service = start_service(f"sqlite:///{root / 'lineage.db'}", port, root)
    url = f"http://127.0.0.1:{port}"
    try:
        posted = httpx.post(f"{url}/api/v1/lineage/batch", json=world.events, timeout=60)
        assert posted.status_code == 201, posted.text
        yield url, MarquezClient(url)
    finally:
        service.terminate()
        service.wait(timeout=60)


def client_get(client: MarquezClient, path: str, *segments: str, **params: Any) -> Any:
    """A read marquez-python has no method for, through the client's own URL building and request."""
    return client._get(client._url(path, *segments), params=params or None)


def status(url: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}/api/v1{path}", params=params, timeout=30)


# -- tests ---------------------------------------------------------------------------------------------
def test_encoded_slashes_stay_inside_their_path_segment():
    raw = b"/api/v1/namespaces/s3%3A%2F%2Fbucket/datasets/raw%2Fevents%2F2026-01-01"
    assert routed_path(raw, "/api/v1/namespaces/s3://bucket/datasets/raw/events/2026-01-01") == (
        "/api/v1/namespaces/s3:%2F%2Fbucket/datasets/raw%2Fevents%2F2026-01-01")
    assert routed_path(b"/a/100%25", "/a/100%") == "/a/100%25"  # a literal % stays one
    assert routed_path(b"/plain/path", "/plain/path") == "/plain/path"
    assert routed_path(b"/a%2Fb", "/root/a/b") == "/root/a/b"  # rewritten by something else: left alone


def test_namespaces_with_schemes_and_ports(served, spec):
    url, client = served
    listed = client.list_namespaces()
    spec.check(listed, "/namespaces")
    names = [n["name"] for n in listed["namespaces"]]
    assert names == sorted(["user_pipeline", "spark", "dbt", S3, PG, REPLICA, CRM])
    assert listed["totalCount"] == 7
    s3 = client.get_namespace(S3)
    spec.check(s3, "/namespaces/{namespace}")
    assert (s3["name"], s3["ownerName"], s3["createdAt"]) == (S3, "anonymous", "2026-03-02T00:00:01.000000Z")
    assert [n["name"] for n in client.list_namespaces(limit=2, offset=1)["namespaces"]] == names[1:3]
    with pytest.raises(APIError):
        client.get_namespace("s3://other-bucket")
    assert status(url, "/namespaces/s3%3A%2F%2Fother-bucket").status_code == 404


def test_datasets_of_a_namespace_with_names_holding_slashes(served, spec):
    url, client = served
    listed = client.list_datasets(S3)
    spec.check(listed, "/namespaces/{namespace}/datasets")
    assert [d["name"] for d in listed["datasets"]] == ["raw/events/2026-01-01", "raw/events/2026-01-02"]
    assert listed["totalCount"] == 2
    raw = client.get_dataset(S3, "raw/events/2026-01-01")
    spec.check(raw, "/namespaces/{namespace}/datasets/{dataset}")
    assert raw["id"] == {"namespace": S3, "name": "raw/events/2026-01-01"} and raw["sourceName"] == S3
    assert raw["fields"] == [{"name": "user_id", "type": "string", "tags": []},
                             {"name": "event", "type": "string", "tags": []}]
    assert "lastModifiedAt" not in raw  # read, never written: no value rather than null
    assert raw["currentVersion"] == dataset_version_id(S3, "raw/events/2026-01-01", "", "etag-1")
    model = client.get_dataset(PG, "analytics.public.users_model")
    assert model["description"] == "Users with their events."
    assert model["lastModifiedAt"] == "2026-03-05T00:00:00.500000Z"
    assert model["facets"]["documentation"]["_producer"] == DBT


def test_the_namespace_in_the_url_is_honoured(served, spec):
    url, client = served
    primary, replica = client.get_dataset(PG, "warehouse.public.events"), client.get_dataset(
        REPLICA, "warehouse.public.events")
    assert (primary["namespace"], replica["namespace"]) == (PG, REPLICA)
    assert primary["currentVersion"] == dataset_version_id(PG, "warehouse.public.events", "", "pg-2")
    assert replica["currentVersion"] == dataset_version_id(REPLICA, "warehouse.public.events", "", "replica-1")
    assert [f["name"] for f in replica["fields"]] == ["user_id"]
    for call in (lambda: client.get_dataset("user_pipeline", "warehouse.public.events"),
                 lambda: client.list_dataset_versions("user_pipeline", "warehouse.public.events"),
                 lambda: client.list_dataset_versions(S3, "curated.users_clean")):
        with pytest.raises(APIError):
            call()
    answer = status(url, "/namespaces/user_pipeline/datasets/warehouse.public.events/versions")
    assert answer.status_code == 404 and "postgres://host:5432" in answer.json()["detail"]
    versions = client.list_dataset_versions(REPLICA, "warehouse.public.events")
    assert [(v["namespace"], v["facets"]["version"]["datasetVersion"]) for v in versions["versions"]] == [
        (REPLICA, "replica-1")]


def test_dataset_versions_are_listed_newest_first_and_fetchable_by_id(served, spec, world):
    url, client = served
    listed = client.list_dataset_versions("user_pipeline", "curated.users_clean")
    spec.check(listed, "/namespaces/{namespace}/datasets/{dataset}/versions")
    contents = [v["facets"]["version"]["datasetVersion"] for v in listed["versions"]]
    # C1..C3 and the D1 fix C1', nothing for dbt's reads without a version facet.
    assert contents == ["C1'", "C3", "C2", "C1"] and listed["totalCount"] == 4
    for version in listed["versions"]:
        assert version["createdByRun"]["state"] == "COMPLETED"
        assert version["id"] == {"namespace": "user_pipeline", "name": "curated.users_clean",
                                 "version": version["version"]}
        fetched = client.get_dataset_version("user_pipeline", "curated.users_clean", version["version"])
        spec.check(fetched, "/namespaces/{namespace}/datasets/{dataset}/versions/{version}")
        assert fetched == version
    assert client.get_dataset_version("user_pipeline", "curated.users_clean", "C2")["version"] == \
        listed["versions"][2]["version"]  # a content version naming one artifact works too
    page = client.list_dataset_versions("user_pipeline", "curated.users_clean", limit=2, offset=1)
    assert [v["facets"]["version"]["datasetVersion"] for v in page["versions"]] == ["C3", "C2"]
    assert page["totalCount"] == 4
    with pytest.raises(APIError):
        client.get_dataset_version("user_pipeline", "curated.users_clean", str(uuid.uuid4()))
    # An output without a version facet: a version per writing run, as Marquez makes them.
    model = client.list_dataset_versions(PG, "analytics.public.users_model")
    assert [v["createdByRun"]["id"] for v in model["versions"]] == [world.dbt_late, world.dbt_early]


def test_jobs_with_parents_and_without_datasets(served, spec, world):
    url, client = served
    listed = client.list_jobs("spark")
    spec.check(listed, "/namespaces/{namespace}/jobs")
    assert [j["name"] for j in listed["jobs"]] == ["events_loader", "events_loader.load_events",
                                                   "events_replicator.copy"]
    loader = client.get_job("spark", "events_loader.load_events")
    spec.check(loader, "/namespaces/{namespace}/jobs/{job}")
    assert (loader["parentJobName"], loader["simpleName"], loader["type"]) == (
        "events_loader", "load_events", "BATCH")
    assert loader["inputs"] == [{"namespace": S3, "name": "raw/events/2026-01-02"}]
    assert loader["outputs"] == [{"namespace": PG, "name": "warehouse.public.events"}]
    assert loader["latestRun"]["state"] == "COMPLETED" and len(loader["latestRuns"]) == 2
    app = client.get_job("spark", "events_loader")
    assert (app["inputs"], app["outputs"], app["latestRun"]["state"]) == ([], [], "COMPLETED")
    model = client.get_job("dbt", "analytics.public.users_model.build.run")
    assert model["location"] == "https://github.com/acme/analytics/blob/4f2a/models/users_model.sql"
    every = httpx.get(f"{url}/api/v1/jobs", params={"limit": 1000}, timeout=30).json()
    spec.check(every, schema=spec.ref("JobList"))
    assert every["totalCount"] == len(every["jobs"]) and world.task_job in {j["name"] for j in every["jobs"]}
    versions = client_get(client, "/namespaces/{0}/jobs/{1}/versions", "spark", "events_loader.load_events")
    spec.check(versions, "/namespaces/{namespace}/jobs/{job}/versions")
    # Day 2 read another S3 object: another job version (Marquez versions a job by its datasets).
    assert len(versions["versions"]) == 2 and versions["versions"][0]["version"] == loader["currentVersion"]
    one = client_get(client, "/namespaces/{0}/jobs/{1}/versions/{2}", "spark", "events_loader.load_events",
                     versions["versions"][1]["version"])
    spec.check(one, "/namespaces/{namespace}/jobs/{job}/versions/{version}")
    assert one["inputs"] == [{"namespace": S3, "name": "raw/events/2026-01-01"}]
    for call in (lambda: client.get_job("spark", "nope"), lambda: client.get_job("dbt", "events_loader"),
                 lambda: client.list_jobs("nowhere")):
        with pytest.raises(APIError):
            call()


def test_runs_with_marquez_states_and_openlineage_facets(served, spec, world):
    url, client = served
    runs = {}
    for job in ("beam_jobs.clean", "beam_jobs.spam_report", "beam_jobs.ingest"):
        listed = client.list_job_runs("user_pipeline", job)
        spec.check(listed, "/namespaces/{namespace}/jobs/{job}/runs")
        assert listed["totalCount"] == len(listed["runs"])
        runs[job] = [r["state"] for r in listed["runs"]]
    assert runs == {"beam_jobs.clean": ["COMPLETED"] * 4, "beam_jobs.spam_report": ["FAILED"],
                    "beam_jobs.ingest": ["RUNNING", "COMPLETED", "COMPLETED", "COMPLETED"]}
    run = client.get_job_run(world.spark_run)
    spec.check(run, "/jobs/runs/{id}")
    assert (run["state"], run["durationMs"], run["startedAt"]) == ("COMPLETED", 1000, "2026-03-02T00:00:01.000000Z")
    assert run["jobVersion"]["name"] == "events_loader.load_events"
    assert run["outputDatasetVersions"] == [{
        "datasetVersionId": {"namespace": PG, "name": "warehouse.public.events",
                             "version": dataset_version_id(PG, "warehouse.public.events", "", "pg-1")},
        "facets": {"outputStatistics": run["outputDatasetVersions"][0]["facets"]["outputStatistics"]}}]
    assert set(run["facets"]) == {"parent", "spark_version", "spark_properties"}
    filled = run["facets"]["spark_properties"]  # sent bare: answered as an OpenLineage facet
    assert filled == {"properties": {"spark.master": "local[2]"}, "_producer": SPARK,
                      "_schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"}
    # The spec's FacetsResult makes the facets object itself a facet (requires _producer on it);
    # Marquez answers {runId, facets: {name: facet}} (RunFacets.java): the facets are checked as
    # the spec's RunFacets / JobFacets, each one an OpenLineage facet.
    for kind, schema in (("run", "RunFacets"), ("job", "JobFacets")):
        facets = client_get(client, "/jobs/runs/{0}/facets", world.spark_run, type=kind)
        spec.check(facets, schema={"type": "object", "required": ["runId", "facets"],
                                   "properties": {"runId": {"type": "string"}, "facets": spec.ref(schema)}})
        assert facets["runId"] == world.spark_run
    assert set(client_get(client, "/jobs/runs/{0}/facets", world.spark_run, type="job")["facets"]) == {"jobType"}
    with pytest.raises(APIError):
        client.get_job_run(str(uuid.uuid4()))
    assert status(url, f"/jobs/runs/{world.spark_run}/facets", type="dataset").status_code == 400
    assert status(url, f"/jobs/runs/{world.spark_run}/facets").status_code == 400


def test_reads_without_a_version_name_the_version_current_then(served, spec, world):
    url, client = served
    versions = {v["facets"]["version"]["datasetVersion"]: v["version"]
                for v in client.list_dataset_versions("user_pipeline", "curated.users_clean")["versions"]}
    # The version committed last before the read is read; none committed after it is. (A store
    # that links such a read to the current version of every partition names those too.)
    for run_id, expected, unseen in ((world.dbt_early, "C3", "C1'"), (world.dbt_late, "C1'", "C1")):
        run = client.get_job_run(run_id)
        spec.check(run, "/jobs/runs/{id}")
        read = {i["datasetVersionId"]["version"] for i in run["inputDatasetVersions"]
                if i["datasetVersionId"]["name"] == "curated.users_clean"}
        assert versions[expected] in read and versions[unseen] not in read
    late = client.get_job_run(world.dbt_late)
    read = {(i["datasetVersionId"]["namespace"], i["datasetVersionId"]["name"]): i["datasetVersionId"]["version"]
            for i in late["inputDatasetVersions"]}
    assert read[(PG, "warehouse.public.events")] == dataset_version_id(PG, "warehouse.public.events", "", "pg-2")
    # CRM's customers were never written: there is no version to name (nor the replica's, of the
    # same name in another namespace, written before the read).
    assert {name for _, name in read} == {"curated.users_clean", "warehouse.public.events"}
    # Each version named is one of the dataset's versions, as listed and fetched, once.
    for run_id in (world.dbt_early, world.dbt_late):
        named = [i["datasetVersionId"] for i in client.get_job_run(run_id)["inputDatasetVersions"]]
        assert len(named) == len({(v["namespace"], v["name"], v["version"]) for v in named})
        for v in named:
            fetched = client.get_dataset_version(v["namespace"], v["name"], v["version"])
            assert fetched["createdByRun"]["state"] == "COMPLETED" and fetched["id"] == v


def test_a_dataset_only_read_without_a_version(served, spec, world):
    url, client = served
    listed = client.list_datasets(CRM)
    spec.check(listed, "/namespaces/{namespace}/datasets")
    assert [d["name"] for d in listed["datasets"]] == [CUSTOMERS] and listed["totalCount"] == 1
    customers = client.get_dataset(CRM, CUSTOMERS)
    spec.check(customers, "/namespaces/{namespace}/datasets/{dataset}")
    assert customers == listed["datasets"][0]
    assert customers["id"] == {"namespace": CRM, "name": CUSTOMERS} and customers["sourceName"] == CRM
    # The facets of its latest read (dbt's, the day after Spark's), first and last read times.
    assert [f["name"] for f in customers["fields"]] == ["customer_id", "email"]
    early = client.get_job_run(world.dbt_early)["createdAt"]
    assert (customers["createdAt"], customers["updatedAt"]) == (early, "2026-03-05T00:00:00.000000Z")
    # No version: nobody named or committed one (Marquez would make one up at the first read).
    assert "currentVersion" not in customers and "lastModifiedAt" not in customers
    versions = client.list_dataset_versions(CRM, CUSTOMERS)
    spec.check(versions, "/namespaces/{namespace}/datasets/{dataset}/versions")
    assert versions == {"versions": [], "totalCount": 0}
    crm = client.get_namespace(CRM)
    spec.check(crm, "/namespaces/{namespace}")
    assert (crm["createdAt"], crm["updatedAt"]) == (early, "2026-03-05T00:00:00.000000Z")
    # The job that reads it lists it among its inputs.
    model = client.get_job("dbt", "analytics.public.users_model.build.run")
    assert {"namespace": CRM, "name": CUSTOMERS} in model["inputs"]
    # A graph node, with an edge to each job that read it.
    node = f"dataset:{CRM}:{CUSTOMERS}"
    nodes = _check_graph(spec, client_get(client, "/lineage", nodeId=node, depth=0))
    assert nodes[node]["data"]["namespace"] == CRM and "currentVersion" not in nodes[node]["data"]
    assert nodes[node]["inEdges"] == []
    assert [e["destination"] for e in nodes[node]["outEdges"]] == [
        "job:dbt:analytics.public.users_model.build.run", "job:spark:events_replicator.copy"]
    assert {"origin": node, "destination": "job:spark:events_replicator.copy"} in nodes[
        "job:spark:events_replicator.copy"]["inEdges"]
    search = client_get(client, "/search", q="customers")
    spec.check(search, "/search")
    assert [r["nodeId"] for r in search["results"]] == [f"dataset:{CRM}:{CUSTOMERS}", f"dataset:{REPLICA}:{CUSTOMERS}"]
    with pytest.raises(APIError):
        client.get_dataset_version(CRM, CUSTOMERS, str(uuid.uuid4()))


def test_one_name_in_two_namespaces_one_only_read_without_a_version(served, spec, world):
    url, client = served
    replica = client.get_dataset(REPLICA, CUSTOMERS)
    assert replica["currentVersion"] == dataset_version_id(REPLICA, CUSTOMERS, "", "replica-c1")
    assert [f["name"] for f in replica["fields"]] == ["customer_id"]
    assert "currentVersion" not in client.get_dataset(CRM, CUSTOMERS)
    assert [v["facets"]["version"]["datasetVersion"] for v in
            client.list_dataset_versions(REPLICA, CUSTOMERS)["versions"]] == ["replica-c1"]
    node = f"dataset:{REPLICA}:{CUSTOMERS}"
    nodes = _check_graph(spec, client_get(client, "/lineage", nodeId=node, depth=0))
    assert [e["origin"] for e in nodes[node]["inEdges"]] == ["job:spark:events_replicator.copy"]
    assert nodes[node]["outEdges"] == []  # dbt read the CRM's, not this one
    assert "job:dbt:analytics.public.users_model.build.run" not in nodes
    answer = status(url, f"/namespaces/user_pipeline/datasets/{CUSTOMERS}")
    assert answer.status_code == 404 and f"'{CRM}', '{REPLICA}'" in answer.json()["detail"]


def test_search(served, spec):
    url, client = served
    found = client_get(client, "/search", q="Users")
    spec.check(found, "/search")
    assert [(r["type"], r["nodeId"]) for r in found["results"]] == [
        ("DATASET", f"dataset:{PG}:analytics.public.users_model"),
        ("JOB", "job:dbt:analytics.public.users_model.build.run"),
        ("DATASET", "dataset:user_pipeline:curated.users_clean"),
        ("DATASET", "dataset:user_pipeline:features.users_transformed"),
        ("DATASET", "dataset:user_pipeline:raw.users_web"),
        ("DATASET", "dataset:user_pipeline:staging.users_despammed"),
        ("DATASET", "dataset:user_pipeline:staging.users_ingested")]
    assert found["totalCount"] == 7
    assert client_get(client, "/search", q="e")["totalCount"] == 10  # Marquez's default limit
    jobs = client_get(client, "/search", q="EVENTS_%", filter="job", limit=50)  # % and _ as in SQL LIKE
    assert [r["name"] for r in jobs["results"]] == ["events_loader", "events_loader.load_events",
                                                    "events_replicator.copy"]
    scoped = client_get(client, "/search", q="events", namespace=REPLICA)
    assert [r["nodeId"] for r in scoped["results"]] == [f"dataset:{REPLICA}:warehouse.public.events"]
    recent = client_get(client, "/search", q="events", sort="UPDATED_AT", after="2026-03-03")
    assert [r["nodeId"] for r in recent["results"]] == [
        f"dataset:{PG}:warehouse.public.events", f"dataset:{REPLICA}:warehouse.public.events",
        "job:spark:events_replicator.copy", "job:spark:events_loader", "job:spark:events_loader.load_events",
        f"dataset:{S3}:raw/events/2026-01-02"]  # updated after 2026-03-03T00:00 (Marquez's reading of a date)
    for params in ({"q": " "}, {}, {"q": "x", "filter": "TABLE"}, {"q": "x", "before": "March"},
                   {"q": "x", "limit": "-1"}):
        assert status(url, "/search", **params).status_code == 400, params


def _check_graph(spec: MarquezSpec, graph: dict) -> dict[str, dict]:
    """The graph against the spec (GraphNode.data apart, see MarquezSpec) and each node's data by
    its type against the spec's Dataset / Job and Marquez's documented graph answers (its blog
    "Using the Marquez API" and api/src/test/resources/lineage/node.json: the properties listed)."""
    spec.check(graph, "/lineage")
    documented = {"DATASET": {"id", "type", "name", "physicalName", "createdAt", "updatedAt", "namespace",
                              "sourceName", "fields", "tags"},
                  "JOB": {"id", "type", "name", "createdAt", "updatedAt", "namespace", "inputs", "outputs",
                          "latestRun"}}
    nodes = {n["id"]: n for n in graph["graph"]}
    for node_id, node in nodes.items():
        spec.check(node["data"], schema=spec.ref("Dataset" if node["type"] == "DATASET" else "Job"))
        assert documented[node["type"]] <= set(node["data"]), node_id
        assert node_id == f"{node['type'].lower()}:{node['data']['namespace']}:{node['data']['name']}"
        for edge in node["inEdges"]:
            assert edge["destination"] == node_id and node_id in {e["destination"] for e in
                                                                  nodes[edge["origin"]]["outEdges"]}
    return nodes


def test_the_lineage_graph_across_producers_and_namespaces(served, spec, world):
    url, client = served
    node = f"dataset:{PG}:warehouse.public.events"
    graph = client_get(client, "/lineage", nodeId=node, depth=0)
    nodes = _check_graph(spec, graph)
    table = nodes[node]
    assert table["data"]["namespace"] == PG and table["data"]["name"] == "warehouse.public.events"
    assert [f["name"] for f in table["data"]["fields"]] == ["user_id", "event", "ds"]
    assert [e["origin"] for e in table["inEdges"]] == ["job:spark:events_loader.load_events"]
    assert [e["destination"] for e in table["outEdges"]] == ["job:dbt:analytics.public.users_model.build.run",
                                                             "job:spark:events_replicator.copy"]
    loader = nodes["job:spark:events_loader.load_events"]["data"]
    assert loader["inputs"] == [{"namespace": S3, "name": f"raw/events/2026-01-0{d}"} for d in (1, 2)]
    assert loader["latestRun"]["state"] == "COMPLETED"
    assert f"dataset:{S3}:raw/events/2026-01-02" in nodes
    # depth 0: the jobs that wrote or read it, and their datasets: our curated dataset (read by
    # dbt) is there, the jobs that wrote it one hop further.
    assert "dataset:user_pipeline:curated.users_clean" in nodes and "job:user_pipeline:beam_jobs.clean" not in nodes
    # dbt's reads without a version are edges like any other (the store's inferred links, and
    # CRM's customers, linked to nothing: never written).
    assert [e["destination"] for e in nodes["dataset:user_pipeline:curated.users_clean"]["outEdges"]] == [
        "job:dbt:analytics.public.users_model.build.run"]
    # 3 jobs; the 2 S3 drops, the table and its replica, the customers and theirs, the model, curated.users_clean
    assert len(nodes) == 11
    deeper = _check_graph(spec, client_get(client, "/lineage", nodeId=node, depth=1))
    assert "job:user_pipeline:beam_jobs.clean" in deeper and "job:user_pipeline:beam_jobs.despam" not in deeper
    # As Marquez's web UI sends it: each name encodeURIComponent'ed inside the id.
    encoded = httpx.get(f"{url}/api/v1/lineage?nodeId=dataset:postgres%3A%2F%2Fhost%3A5432:"
                        f"warehouse.public.events&depth=0", timeout=30).json()
    assert encoded == graph


def test_a_job_without_datasets_is_a_graph_of_its_own(served, spec, world):
    url, client = served
    for job in (f"job:user_pipeline:{world.task_job}", "job:spark:events_loader"):
        nodes = _check_graph(spec, client_get(client, "/lineage", nodeId=job))
        assert list(nodes) == [job] and nodes[job]["inEdges"] == nodes[job]["outEdges"] == []


def test_lineage_graph_errors(served):
    url, _ = served
    for params, code in (({"nodeId": "dataset:user_pipeline:nope"}, 404), ({"nodeId": f"dataset:{PG}:nope"}, 404),
                         ({"nodeId": "job:spark:nope"}, 404), ({"nodeId": "table:x:y"}, 400),
                         ({"nodeId": "dataset:nonamespace"}, 400), ({}, 400),
                         ({"nodeId": "job:spark:events_loader", "depth": "-1"}, 400),
                         ({"nodeId": "job:spark:events_loader", "depth": "two"}, 400)):
        assert status(url, "/lineage", **params).status_code == code, params


def test_events(served, spec, world):
    url, client = served
    listed = client.list_events(limit=1000)
    spec.check(listed, "/events/lineage")
    assert listed["totalCount"] == len(world.events) == len(listed["events"])
    times = [e["eventTime"] for e in listed["events"]]
    assert times == sorted(times, reverse=True)
    spark = client.list_events(namespace="spark", limit=1000)
    assert spark["totalCount"] == 10 and {e["job"]["namespace"] for e in spark["events"]} == {"spark"}
    oldest = client_get(client, "/events/lineage", sortDirection="asc", limit=2)
    spec.check(oldest, "/events/lineage")
    assert [e["eventTime"] for e in oldest["events"]] == sorted(times)[:2]
    window = client_get(client, "/events/lineage", after="2026-03-02T00:00:00Z", before="2026-03-04T00:00:00Z")
    assert window["totalCount"] == 8  # the two Spark loads (from ``after`` on, before ``before``)
    assert status(url, "/events/lineage", before="yesterday").status_code == 400
    assert status(url, "/events/lineage", sortDirection="up").status_code == 400


@pytest.mark.parametrize("path", [
    "/namespaces", "/namespaces/user_pipeline/datasets",
    "/namespaces/user_pipeline/datasets/curated.users_clean/versions",
    "/namespaces/user_pipeline/jobs", "/jobs", "/namespaces/user_pipeline/jobs/beam_jobs.clean/runs",
    "/namespaces/user_pipeline/jobs/beam_jobs.clean/versions", "/events/lineage", "/events"])
@pytest.mark.parametrize("params", [{"limit": "-1"}, {"offset": "-5"}, {"limit": "ten"}, {"offset": "1.5"}])
def test_bad_paging_is_400(served, path, params):
    url, _ = served
    answer = status(url, path, **params)
    assert answer.status_code == 400 and next(iter(params)) in answer.json()["detail"]


@pytest.mark.parametrize("path", [
    "/namespaces/nowhere", "/namespaces/nowhere/datasets", "/namespaces/nowhere/jobs",
    "/namespaces/user_pipeline/datasets/nope", "/namespaces/user_pipeline/datasets/nope/versions",
    "/namespaces/user_pipeline/jobs/nope", "/namespaces/user_pipeline/jobs/nope/runs",
    "/namespaces/user_pipeline/jobs/nope/versions", "/namespaces/user_pipeline/jobs/beam_jobs.clean/versions/nope",
    "/namespaces/user_pipeline/datasets/curated.users_clean/versions/nope", "/jobs/runs/nope",
    "/jobs/runs/nope/facets?type=run", "/events/nowhere"])
def test_what_does_not_exist_is_404(served, path):
    url, _ = served
    answer = httpx.get(f"{url}/api/v1{path}", timeout=30)
    assert answer.status_code == 404 and answer.json()["detail"]
