"""The event validator: a catalogue of poison events (each refused, naming the field), property
tests (any JSON value: only its own error; valid events: accepted, storable, and valid against the
OpenLineage spec's JSON schemas), times zero-padded."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.lineage_synth import EventFactory, ds
from lineage.store import InvalidEvent, LineageStore, normalise_time, parse_event, validate_event, validation
from lineage.store.validation import MAX_DEPTH, MAX_KEY_CHARS, MAX_STRING_CHARS

# The OpenLineage specification's JSON schemas, shared read-only beside the checkout.
SPEC = Path(__file__).resolve().parents[3] / "shared" / "openlineage"
FACET_FILES = sorted((SPEC / "facets").glob("*.json"))


def complete_event() -> dict[str, Any]:
    """The COMPLETE event of one of our job runs launched by an Airflow task (every facet the
    store reads), as a fresh dict."""
    events = EventFactory().run("beam_jobs.clean", "clean", "2026-01-01", [ds("staging.users_despammed", "2026-01-01",
                                                                              "s1")],
                                [ds("curated.users_clean", "2026-01-01", "c1")], provider_events=True)
    return json.loads(json.dumps(next(e for e in events if e["job"]["name"] == "beam_jobs.clean"
                                      and e["eventType"] == "COMPLETE")))


def provider_event() -> dict[str, Any]:
    """The Airflow provider's task COMPLETE event (the ``airflow`` facet), as a fresh dict."""
    events = EventFactory().run("beam_jobs.clean", "clean", "2026-01-01", [], [], provider_events=True)
    return json.loads(json.dumps(events[-1]))


def _set(path: tuple, value: Any) -> Callable[[dict], None]:
    def mutate(event: dict) -> None:
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


@dataclass(frozen=True)
class Poison:
    """An event the service used to acknowledge and then fail on (or answer 500), the field the
    refusal names, and whether the OpenLineage spec refuses it too (its types) or only our limits."""

    name: str
    mutate: Callable[[dict], None]
    field: str
    spec_refuses: bool
    base: Callable[[], dict] = complete_event

    def event(self) -> dict:
        event = self.base()
        self.mutate(event)
        return event


STATS = ("outputs", 0, "outputFacets", "outputStatistics")
PARENT = ("run", "facets", "parent")
POISONS = [
    Poison("rowCount 2^63", _set((*STATS, "rowCount"), 2**63), "outputs[0].outputFacets.outputStatistics.rowCount",
           False),
    Poison("size below -2^63", _set((*STATS, "size"), -2**63 - 1), "outputs[0].outputFacets.outputStatistics.size",
           False),
    Poison("rowCount a string", _set((*STATS, "rowCount"), "12"), "outputs[0].outputFacets.outputStatistics.rowCount",
           True),
    Poison("rowCount a fraction", _set((*STATS, "rowCount"), 1.5), "outputs[0].outputFacets.outputStatistics.rowCount",
           True),
    Poison("parent run id an object", _set((*PARENT, "run", "runId"), {"id": 1}), "run.facets.parent.run.runId", True),
    Poison("parent run id a number", _set((*PARENT, "run", "runId"), 7), "run.facets.parent.run.runId", True),
    Poison("parent job name an object", _set((*PARENT, "job", "name"), {"n": "x"}), "run.facets.parent.job.name", True),
    Poison("root run id a number", _set((*PARENT, "root", "run", "runId"), 12), "run.facets.parent.root.run.runId",
           True),
    Poison("parent run a string", _set((*PARENT, "run"), "r"), "run.facets.parent.run", True),
    Poison("our DAG run id an object", _set(("run", "facets", "airflowDagRun", "dagRunId"), {"a": 1}),
           "run.facets.airflowDagRun.dagRunId", False),
    Poison("our try number 2^63", _set(("run", "facets", "airflowDagRun", "tryNumber"), 2**63),
           "run.facets.airflowDagRun.tryNumber", False),
    Poison("provider DAG run id a number", _set(("run", "facets", "airflow", "dagRun", "run_id"), 5),
           "run.facets.airflow.dagRun.run_id", False, provider_event),
    Poison("provider dag id an object", _set(("run", "facets", "airflow", "dag", "dag_id"), {"x": 1}),
           "run.facets.airflow.dag.dag_id", False, provider_event),
    Poison("nominal time not a time", _set(("run", "facets", "nominalTime", "nominalStartTime"), "yesterday"),
           "run.facets.nominalTime.nominalStartTime", False),
    Poison("event time before year 1 in UTC", _set(("eventTime",), "0001-01-01T00:00:00+01:00"), "eventTime", False),
    Poison("event time after 9999 in UTC", _set(("eventTime",), "9999-12-31T23:00:00-05:00"), "eventTime", False),
    Poison("event time 30 February", _set(("eventTime",), "2026-02-30T00:00:00Z"), "eventTime", False),
    Poison("event time a number", _set(("eventTime",), 1767225600), "eventTime", True),
    Poison("nesting too deep", _set(("run", "facets", "deep"), {"_producer": "p", "_schemaURL": "s",
                                                                "v": _nested(MAX_DEPTH + 5)}), "run.facets.deep.v",
           False),
    Poison("string too long", _set(("job", "name"), "x" * (MAX_STRING_CHARS + 1)), "job.name", False),
    Poison("key too long", _set(("run", "facets", "k" * (MAX_KEY_CHARS + 1)), {}), "run.facets", False),
    Poison("run id empty", _set(("run", "runId"), ""), "run.runId", False),
    Poison("dataset name a list", _set(("outputs", 0, "name"), ["a"]), "outputs[0].name", True),
    Poison("facet map a list", _set(("outputs", 0, "outputFacets"), ["x"]), "outputs[0].outputFacets", True),
    Poison("event type unknown", _set(("eventType",), "DONE"), "eventType", True),
]


@pytest.mark.parametrize("poison", POISONS, ids=lambda p: p.name)
def test_each_poison_event_is_refused_naming_the_field(poison):
    with pytest.raises(InvalidEvent) as refused:
        validate_event(poison.event())
    assert str(refused.value).startswith(poison.field) and refused.value.field.startswith(poison.field)


def test_the_events_we_and_the_airflow_provider_write_pass():
    validate_event(complete_event())
    validate_event(provider_event())


def test_what_only_the_lenient_json_parser_reads_is_refused_too():
    """Lines orjson refuses are parsed again by json (lineage.store.interpret.load_json): its NaN,
    infinities and lone surrogates must not reach the store."""
    for value, reason in ((float("nan"), "not a finite number"), (float("inf"), "not a finite number"),
                          ("\ud800", "lone surrogate")):
        event = complete_event()
        event["job"]["facets"]["jobType"]["integration"] = value
        with pytest.raises(InvalidEvent, match=reason) as refused:
            validate_event(event)
        assert refused.value.field == "job.facets.jobType.integration"


def test_event_times_are_stored_zero_padded_so_they_sort_as_text():
    early = parse_event({**complete_event(), "eventTime": "0999-06-01T12:00:00+02:00"})
    assert early.event_time == "0999-06-01T10:00:00.000000Z"
    assert sorted([normalise_time("2026-01-01T00:00:00Z"), early.event_time, normalise_time("0001-01-01")]) == [
        "0001-01-01T00:00:00.000000Z", "0999-06-01T10:00:00.000000Z", "2026-01-01T00:00:00.000000Z"]
    with pytest.raises(ValueError, match="outside 0001-01-01..9999-12-31 UTC"):
        normalise_time("0001-01-01T00:00:00+00:01")


# -- properties ------------------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(JSON)
def test_any_json_value_is_accepted_or_refused_with_an_invalid_event_and_nothing_else(value):
    with contextlib.suppress(InvalidEvent):
        validate_event(value)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    return LineageStore(f"sqlite:///{tmp_path_factory.mktemp('validation') / 'lineage.db'}")


@PROPERTY_SETTINGS
@given(st.data())
def test_an_event_with_any_part_replaced_is_refused_or_stored_never_set_aside(shared_store, data):
    """Whatever the validator accepts, the store stores: nothing accepted is found unstorable later
    (an unstorable event is what stopped the service before the validator)."""
    event = complete_event() if data.draw(st.booleans()) else provider_event()
    path = data.draw(st.sampled_from(_paths(event)[1:]))
    _set(path, data.draw(JSON))(event)
    try:
        validate_event(event)
    except InvalidEvent:
        return
    report = shared_store.ingest_events([event])
    assert report.issues == [] and report.events_new + report.events_known == 1


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
INT64 = st.integers(-(2**63), 2**63 - 1)
TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


def _facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s#/$defs/F", **fields}


@st.composite
def run_events(draw) -> dict[str, Any]:
    """RunEvents as the spec allows them, with the facets the store reads."""
    def dataset(side_facets: str, facets: dict) -> dict:
        return {"namespace": draw(TEXT), "name": draw(TEXT),
                "facets": {"version": _facet(datasetVersion=draw(TEXT))}, side_facets: facets}

    run_facets: dict[str, Any] = {}
    if draw(st.booleans()):
        run_facets["parent"] = _facet(run={"runId": str(draw(st.uuids()))},
                                      job={"namespace": draw(TEXT), "name": draw(TEXT)},
                                      root={"run": {"runId": str(draw(st.uuids()))},
                                            "job": {"namespace": draw(TEXT), "name": draw(TEXT)}})
    if draw(st.booleans()):
        run_facets["nominalTime"] = _facet(nominalStartTime=draw(TIMES).isoformat())
    if draw(st.booleans()):
        run_facets["errorMessage"] = _facet(message=draw(TEXT), programmingLanguage="python")
    outputs = [dataset("outputFacets", {"outputStatistics": _facet(rowCount=draw(INT64), size=draw(INT64))})
               for _ in range(draw(st.integers(0, 2)))]
    inputs = [dataset("inputFacets", {}) for _ in range(draw(st.integers(0, 2)))]
    return {"eventTime": draw(TIMES).isoformat(), "eventType": draw(st.sampled_from(["START", "COMPLETE", "FAIL"])),
            "producer": "https://example.com/producer", "schemaURL": "https://openlineage.io/spec/2-0-2/"
            "OpenLineage.json#/$defs/RunEvent", "run": {"runId": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
                                                       "facets": run_facets},
            "job": {"namespace": draw(TEXT), "name": draw(TEXT)}, "inputs": inputs, "outputs": outputs}


@PROPERTY_SETTINGS
@given(run_events())
def test_valid_events_are_accepted_and_stored(shared_store, event):
    validate_event(event)
    report = shared_store.ingest_events([event])
    assert report.issues == [] and report.events_new + report.events_known == 1


# -- against the OpenLineage spec's JSON schemas ------------------------------------------------
@pytest.fixture(scope="module")
def spec():
    """``spec(event)``: the spec's errors for an event (the RunEvent schema, and each facet map
    against every facet schema: a facet schema's top level names its facet's key)."""
    if not SPEC.is_dir():
        pytest.skip(f"the OpenLineage spec's schemas are not at {SPEC}")
    import jsonschema
    from referencing import Registry, Resource

    documents = [json.loads(p.read_text()) for p in [SPEC / "OpenLineage.json", *FACET_FILES]]
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in documents)
    core = documents[0]
    event_schema = jsonschema.Draft202012Validator({"$ref": f"{core['$id']}#/$defs/RunEvent"}, registry=registry)
    # Each facet file declares its facet under its conventional key: check that key's value.
    facet_schemas = [(key, jsonschema.Draft202012Validator({"$ref": f"{d['$id']}#/properties/{key}"},
                                                          registry=registry))
                     for d in documents[1:] for key in d.get("properties", {})]

    def errors(event: dict) -> list[str]:
        found = [e.message for e in event_schema.iter_errors(event)]
        maps = [(event.get("run") or {}).get("facets"), (event.get("job") or {}).get("facets")]
        for dataset in [*(event.get("inputs") or []), *(event.get("outputs") or [])]:
            if isinstance(dataset, dict):
                maps += [dataset.get("facets"), dataset.get("inputFacets"), dataset.get("outputFacets")]
        for facets in maps:
            if isinstance(facets, dict):
                found += [e.message for key, schema in facet_schemas if key in facets
                          for e in schema.iter_errors(facets[key])]
        return found

    return errors


@settings(max_examples=100, deadline=None)
@given(run_events())
def test_the_generated_valid_events_are_valid_for_the_spec(spec, event):
    assert spec(event) == []


@pytest.mark.parametrize("poison", [p for p in POISONS if p.spec_refuses], ids=lambda p: p.name)
def test_where_the_spec_types_a_field_it_refuses_what_we_refuse(spec, poison):
    assert spec(poison.base()) == []
    assert spec(poison.event()) != []


def test_the_standard_facets_we_type_sit_where_the_spec_puts_them_under_its_keys(spec):
    """Each standard facet the validator types is declared by a spec file under that key, in the
    same place (run facets, dataset facets, input or output facets)."""
    declared: dict[str, set[str]] = {}
    for path in FACET_FILES:
        document = json.loads(path.read_text())
        for key, reference in document.get("properties", {}).items():
            definition = document["$defs"].get(reference.get("$ref", "").rsplit("/", 1)[-1], {})
            bases = [part["$ref"].rsplit("/", 1)[1] for part in definition.get("allOf", []) if "$ref" in part]
            if not bases:
                continue  # not a facet of one place (the subset definitions)
            base = bases[0]
            place = {"RunFacet": "run", "DatasetFacet": "dataset", "InputDatasetFacet": "input",
                     "OutputDatasetFacet": "output"}.get(base, base)
            declared.setdefault(place, set()).add(key)
    for place, facets in validation.standard_facets().items():
        assert set(facets) <= declared[place], place
