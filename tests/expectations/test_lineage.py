"""The gate's own lineage run: its input carries the results as standard OpenLineage facets."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde
from referencing import Registry, Resource

from expectations.gate import NAME as JOB
from expectations.gate import GateFailed, run_gate
from lineage.catalog import Catalog
from tests.expectations.helpers import DAYS, commit, read
from user_pipeline.config import REPO_ROOT

# The OpenLineage spec files (OpenLineage/OpenLineage `spec/` at 8f02abfb, Apache-2.0) are read
# from the workplace's shared copy, never committed here: ../shared/openlineage/README.md.
SPEC = REPO_ROOT.parent / "shared" / "openlineage"
DAY = DAYS[1]


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The spec files, addressable by their $id: nothing is fetched."""
    files = [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]
    assert all(f.is_file() for f in files[:1]), f"the OpenLineage spec files are missing under {SPEC}"
    schemas = [json.loads(path.read_text()) for path in files]
    return Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)


def _validate(instance: dict, schema_url: str, registry: Registry) -> None:
    validator = Draft202012Validator({"$ref": schema_url}, registry=registry)
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def _as_json(event) -> dict:
    return json.loads(Serde.to_json(event))


def test_a_passing_gate_emits_start_and_complete_with_quality_facets_on_its_input(
        gated_cfg, memory_lineage, registry):
    client, transport = memory_lineage
    result = run_gate(gated_cfg, "curated.users_clean", DAY, client=client)
    start, complete = (_as_json(e) for e in transport.events)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert complete["job"]["name"] == JOB and complete["run"]["runId"] == result.run_id
    assert complete["run"]["facets"]["processing_engine"]["name"] == "Great Expectations"
    # The validated partition, then the one before it (the row-count checks compare against it),
    # which carries no results of its own.
    dataset, previous = complete["inputs"]
    catalog = Catalog(gated_cfg)
    manifest = catalog.require("curated.users_clean", DAY)
    assert dataset["name"] == previous["name"] == "curated.users_clean"
    assert dataset["facets"]["version"]["datasetVersion"] == manifest.version
    assert previous["facets"]["partition"]["value"] == DAYS[0]
    assert previous["facets"]["version"]["datasetVersion"] == catalog.require("curated.users_clean", DAYS[0]).version
    assert not previous.get("inputFacets") and "gate" not in previous["facets"]
    assert "inputFacets" not in start["inputs"][0] or not start["inputs"][0]["inputFacets"]

    assertions = dataset["inputFacets"]["dataQualityAssertions"]
    metrics = dataset["inputFacets"]["dataQualityMetrics"]
    _validate(assertions, assertions["_schemaURL"], registry)
    _validate(metrics, metrics["_schemaURL"], registry)
    _validate(complete, "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent", registry)

    assert len(assertions["assertions"]) == len(result.checks)
    by_name = {a["name"]: a for a in assertions["assertions"]}
    unique = by_name["source_record_id.unique"]
    assert unique == {**unique, "assertion": "unique", "column": "source_record_id", "success": True,
                      "severity": "error"}
    assert by_name["table.row_count_growth"]["severity"] == "warn"
    assert metrics["rowCount"] == manifest.row_count
    assert metrics["columnMetrics"]["source_record_id"] == {
        **metrics["columnMetrics"]["source_record_id"], "nullCount": 0, "distinctCount": manifest.row_count}
    assert {"min", "max"} <= set(metrics["columnMetrics"]["age_years"])
    assert dataset["facets"]["gate"]["success"] is True
    assert dataset["facets"]["gate"]["reportUri"].endswith(f"curated.users_clean/ds={DAY}.html")


def test_a_failed_gate_emits_fail_carrying_the_failed_assertions(gated_cfg, memory_lineage, registry):
    clean = read(gated_cfg, "curated.users_clean", DAY)
    commit(gated_cfg, "curated.users_clean", DAY, clean.slice(0, 10))
    client, transport = memory_lineage
    with pytest.raises(GateFailed) as failed:
        run_gate(gated_cfg, "curated.users_clean", DAY, client=client)
    start, fail = (_as_json(e) for e in transport.events)
    assert fail["eventType"] == RunState.FAIL.value
    assert "table.row_count_vs_previous" in fail["run"]["facets"]["errorMessage"]["message"]
    assertions = fail["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    _validate(assertions, assertions["_schemaURL"], registry)
    by_name = {a["name"]: a for a in assertions["assertions"]}
    broken = by_name["table.row_count_vs_previous"]
    assert broken["success"] is False and broken["severity"] == "error" and broken["assertion"] == "row_count"
    assert broken["actual"] == "10 rows" and "0.7 x" in broken["expected"]
    assert fail["inputs"][0]["facets"]["gate"]["criticalFailures"] == len(failed.value.result.critical_failures)


def test_a_passed_version_is_not_validated_again_unless_something_it_depends_on_changed(
        gated_cfg, memory_lineage, registry):
    client, transport = memory_lineage
    first = run_gate(gated_cfg, "curated.users_clean", DAY, client=client)
    again = run_gate(gated_cfg, "curated.users_clean", DAY, client=client)
    complete = _as_json(transport.events[-1])
    # Reused: the stored result, a skip facet on the run, the assertions still on the input.
    assert again.validated_at == first.validated_at and again.fingerprint == first.fingerprint
    assert complete["run"]["facets"]["contentAddressedSkip"]["reused"] == first.results_uri
    assertions = complete["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    assert len(assertions["assertions"]) == len(first.checks)
    _validate(complete, "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent", registry)
    # --force, or a change of gate config, validates again.
    forced = run_gate(gated_cfg, "curated.users_clean", DAY, client=client, force=True)
    assert "contentAddressedSkip" not in _as_json(transport.events[-1])["run"]["facets"]
    stricter = gated_cfg.model_copy(update={"gates": gated_cfg.gates.model_copy(update={"examples": 3})})
    changed = run_gate(stricter, "curated.users_clean", DAY, client=client)
    assert "contentAddressedSkip" not in _as_json(transport.events[-1])["run"]["facets"]
    assert changed.fingerprint != forced.fingerprint
