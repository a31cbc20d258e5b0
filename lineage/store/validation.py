"""The full check of an OpenLineage RunEvent before the store takes it: the service runs it before
acknowledging a POST, ``lineage ingest`` before storing a line (docs/threat-model.md).

An event passes when
- every value is one JSON can carry and the store can hold: integers in the signed 64-bit range
  (what SQL ``BIGINT`` holds), finite numbers, strings of valid Unicode of at most
  ``MAX_STRING_CHARS`` characters, keys of at most ``MAX_KEY_CHARS``, objects and arrays nested at
  most ``MAX_DEPTH`` deep (orjson serialises 254 levels; real events use about 12);
- the RunEvent's own fields have the types the OpenLineage spec gives them (``eventTime``,
  ``producer``, ``schemaURL``, ``run.runId``, ``job.namespace``/``name``, datasets), with the
  non-empty strings the store keys on, and ``eventTime`` a date-time between 0001-01-01 and
  9999-12-31 UTC (stored zero-padded, so it sorts as text);
- every facet is an object, and the facets the store and the service read are typed: the standard
  ones as the OpenLineage client's generated classes declare them (generated from the spec's JSON
  schemas), ours as ``lineage.naming`` declares them, and the Airflow provider's ``airflow`` /
  ``airflowDagRun`` fields the store reads. Their date-times must parse like ``eventTime``. A
  field given as ``null`` counts as absent; required fields *inside* facets are not enforced
  (the store treats a missing one as absent), and unknown facets and fields are kept as they are.

The check is code rather than ``jsonschema`` over the spec: the spec's JSON files are not
installed with any package, and jsonschema took 200 us per event against about 18 us here
(measured), which would have been most of the service's time per event.

A refusal is ``InvalidEvent`` (a ``MalformedEvent``) whose message starts with the field's path,
e.g. ``outputs[0].outputFacets.outputStatistics.rowCount: 9223372036854775808 is outside the
signed 64-bit range``. Nothing else is raised, whatever the input (property-tested).
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from lineage.store.errors import MalformedEvent

MAX_DEPTH = 48
MAX_STRING_CHARS = 1 << 20
MAX_KEY_CHARS = 1024
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
# The longest prefix of a bad value quoted in a reason.
_QUOTE_CHARS = 80


class InvalidEvent(MalformedEvent):
    """An event the store refuses; ``field`` is the path of the offending value ("" for the event)."""

    def __init__(self, field: str, reason: str):
        joined = f"{field} {reason}" if reason.startswith(("is ", "must ")) else f"{field}: {reason}"
        super().__init__(joined if field else reason)
        self.field, self.reason = field, reason


def quote(value: Any) -> str:
    """``repr`` of a value, cut to a readable length (reasons are logged and stored)."""
    text = repr(value)
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + f"... ({len(text)} characters)"


def parse_time(value: Any) -> datetime:
    """An ISO-8601 date-time (a bare date is its midnight, no zone is UTC) as an aware UTC datetime;
    ValueError if it is not one or falls outside 0001-01-01..9999-12-31 UTC."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {quote(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO-8601 date-time: {quote(value)}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 once in UTC
        raise ValueError(f"{quote(value)} is outside 0001-01-01..9999-12-31 UTC") from None


# -- values: what any part of an event may hold --------------------------------------------------
class _Bad(Exception):
    """A bad value deep in the event; each level adds its key on the way out (no cost when valid)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason, self.path = reason, []


def _path(parts: list[str | int]) -> str:
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text if len(text) <= 2 * _QUOTE_CHARS else text[:2 * _QUOTE_CHARS] + "..."


def _check_scalar(value: Any) -> None:
    kind = type(value)
    if kind is str:
        if len(value) > MAX_STRING_CHARS:
            raise _Bad(f"a string of {len(value)} characters, over the limit of {MAX_STRING_CHARS}")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Bad("not valid Unicode (a lone surrogate)") from None
    elif kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise _Bad(f"{quote(value)} is outside the signed 64-bit integer range")
    elif kind is float:
        if not math.isfinite(value):
            raise _Bad(f"{value} is not a finite number")
    elif value is not None and kind is not bool:
        raise _Bad(f"a {kind.__name__} is not a JSON value")


def _check_values(value: Any, depth: int) -> None:
    # Strings, booleans and nulls (most values) are checked inline: a call per value was half the
    # validator's time (profiled).
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise _Bad(f"nested deeper than {MAX_DEPTH} levels")
        for key, item in value.items():
            try:
                if type(key) is not str:
                    raise _Bad(f"an object key must be a string, not {quote(key)}")
                if len(key) > MAX_KEY_CHARS:
                    raise _Bad(f"a key of {len(key)} characters, over the limit of {MAX_KEY_CHARS}")
                item_kind = type(item)
                if item_kind is str:
                    if len(item) > MAX_STRING_CHARS or not item.isascii():
                        _check_scalar(item)
                elif item_kind is dict or item_kind is list:
                    _check_values(item, depth + 1)
                elif item is not None and item_kind is not bool:
                    _check_scalar(item)
            except _Bad as bad:
                bad.path.append(key)
                raise
    elif kind is list:
        if depth >= MAX_DEPTH:
            raise _Bad(f"nested deeper than {MAX_DEPTH} levels")
        for index, item in enumerate(value):
            try:
                item_kind = type(item)
                if item_kind is str:
                    if len(item) > MAX_STRING_CHARS or not item.isascii():
                        _check_scalar(item)
                elif item_kind is dict or item_kind is list:
                    _check_values(item, depth + 1)
                elif item is not None and item_kind is not bool:
                    _check_scalar(item)
            except _Bad as bad:
                bad.path.append(index)
                raise
    else:
        _check_scalar(value)


# -- types: the fields of the RunEvent and of the facets that are read ----------------------------
# A check takes a value and raises _Bad; the containers add the key on the way out, so a valid
# event builds no path strings.
Check = Callable[[Any], None]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _anything(value: Any) -> None:
    pass


def _string(value: Any) -> None:
    if type(value) is not str:
        raise _Bad(f"must be a string, not {_kind(value)} ({quote(value)})")


def _name(value: Any) -> None:
    _string(value)
    if not value:
        raise _Bad("must be a non-empty string")


def _integer(value: Any) -> None:
    if type(value) is not int:  # a bool is not an integer here, nor 3.0
        raise _Bad(f"must be an integer, not {_kind(value)} ({quote(value)})")


def _number(value: Any) -> None:
    if type(value) not in (int, float):
        raise _Bad(f"must be a number, not {_kind(value)} ({quote(value)})")


def _boolean(value: Any) -> None:
    if type(value) is not bool:
        raise _Bad(f"must be true or false, not {_kind(value)} ({quote(value)})")


def _date_time(value: Any) -> None:
    _string(value)
    try:
        parse_time(value)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _event_type(value: Any) -> None:
    _string(value)
    if value.upper() not in EVENT_TYPES:
        raise _Bad(f"{quote(value)} is not one of {', '.join(EVENT_TYPES)}")


def _enum(values: tuple[Any, ...]) -> Check:
    def check(value: Any) -> None:
        if value not in values:
            raise _Bad(f"{quote(value)} is not one of {', '.join(map(str, values))}")

    return check


def _array(item: Check) -> Check:
    def check(value: Any) -> None:
        if type(value) is not list:
            raise _Bad(f"must be an array, not {_kind(value)}")
        for index, element in enumerate(value):
            try:
                item(element)
            except _Bad as bad:
                bad.path.append(index)
                raise

    return check


def _object(required: dict[str, Check] | None = None, optional: dict[str, Check] | None = None) -> Check:
    """An object with these fields (others allowed); an optional field may be null or absent."""
    required, optional = tuple((required or {}).items()), tuple((optional or {}).items())

    def check(value: Any) -> None:
        if type(value) is not dict:
            raise _Bad(f"must be an object, not {_kind(value)} ({quote(value)})")
        field = ""
        try:
            for field, field_check in required:
                if field not in value:
                    raise _Bad("is required")
                field_check(value[field])
            for field, field_check in optional:
                item = value.get(field)
                if item is not None:
                    field_check(item)
        except _Bad as bad:
            bad.path.append(field)
            raise

    return check


def _map(item: Check) -> Check:
    """An object whose every value is checked by ``item`` (a facet map's values, free-form maps)."""

    def check(value: Any) -> None:
        if type(value) is not dict:
            raise _Bad(f"must be an object, not {_kind(value)}")
        for key, element in value.items():
            try:
                item(element)
            except _Bad as bad:
                bad.path.append(key)
                raise

    return check


def _facets(known: dict[str, Check]) -> Check:
    """A facet map: every facet an object with the base facet's fields; the ``known`` ones typed."""

    def check(value: Any) -> None:
        if type(value) is not dict:
            raise _Bad(f"must be an object of facets, not {_kind(value)}")
        for name, facet in value.items():
            try:
                _BASE_FACET(facet)
                if name in known:
                    known[name](facet)
            except _Bad as bad:
                bad.path.append(name)
                raise

    return check


def _from_attrs(cls: type, overrides: dict[str, Check] | None = None) -> Check:
    """The check of an object shaped like an attrs class (a facet class of the OpenLineage client,
    generated from the spec's schemas, or one of ours): each field's declared type, all optional;
    ``overrides`` replaces the check of some fields (date-times, which are typed ``str`` there)."""
    import attr

    hints = typing.get_type_hints(cls)
    fields = {f.name: _from_type(hints[f.name]) for f in attr.fields(cls) if not f.name.startswith("_")}
    return _object(optional=fields | (overrides or {}))


def _from_type(hint: Any) -> Check:
    import attr

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _from_type(options[0]) if len(options) == 1 else _anything
    if origin is list:
        return _array(_from_type(args[0]))
    if origin is dict:
        return _map(_from_type(args[1]))
    if hint is str:
        return _string
    if hint is bool:
        return _boolean
    if hint is int:
        return _integer
    if hint is float:
        return _number
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum(tuple(member.value for member in hint))
    if isinstance(hint, type) and attr.has(hint):
        return _from_attrs(hint)
    return _anything


_BASE_FACET = _object(optional={"_producer": _string, "_schemaURL": _string, "_deleted": _boolean})


@functools.cache
def standard_facets() -> dict[str, dict[str, Check]]:
    """The checks of the standard facets the store or the service read, by where they sit (``run``,
    ``dataset``, ``input``, ``output``) and their conventional key, from the OpenLineage client's
    classes (imported on first use: a process that never validates does not pay for them)."""
    from openlineage.client.generated import (
        data_quality_assertions_dataset,
        dataset_version_dataset,
        error_message_run,
        input_statistics_input_dataset,
        nominal_time_run,
        output_statistics_output_dataset,
        parent_run,
        processing_engine_run,
    )

    # The parent's ids are what the store joins runs on: the spec's strings, required.
    ids = {"run": _object(required={"runId": _name}),
           "job": _object(required={"namespace": _string, "name": _name})}
    return {
        "run": {
            "parent": _object(required=ids, optional={"root": _from_attrs(parent_run.Root, ids)}),
            "nominalTime": _from_attrs(nominal_time_run.NominalTimeRunFacet,
                                       {"nominalStartTime": _date_time, "nominalEndTime": _date_time}),
            "errorMessage": _from_attrs(error_message_run.ErrorMessageRunFacet),
            "processing_engine": _from_attrs(processing_engine_run.ProcessingEngineRunFacet),
        },
        "dataset": {"version": _from_attrs(dataset_version_dataset.DatasetVersionDatasetFacet)},
        "input": {
            "dataQualityAssertions": _from_attrs(data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet),
            "inputStatistics": _from_attrs(input_statistics_input_dataset.InputStatisticsInputDatasetFacet),
        },
        "output": {
            "outputStatistics": _from_attrs(output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet),
        },
    }


@functools.cache
def _run_event_check() -> Check:
    """The check of a whole RunEvent, built once per process on first use."""
    from lineage.naming import (
        AirflowDagRunRunFacet,
        ContentAddressedSkipRunFacet,
        ManifestDatasetFacet,
        PartitionDatasetFacet,
    )

    # The Airflow provider's task facet ("airflow") and DAG-run facet ("airflowDagRun", the same
    # key as ours), as far as the store reads them (lineage.store.interpret._airflow_info).
    provider = _object(optional={
        "dag": _object(optional={"dag_id": _string}),
        "dagRun": _object(optional={"dag_id": _string, "run_id": _string, "logical_date": _date_time,
                                    "execution_date": _date_time}),
        "task": _object(optional={"task_id": _string}),
        "taskInstance": _object(optional={"try_number": _integer}),
    })
    ours_airflow = _from_attrs(AirflowDagRunRunFacet, {"logicalDate": _date_time})

    def airflow_dag_run(value: Any) -> None:
        ours_airflow(value)
        provider(value)

    standard = standard_facets()
    run_facets = standard["run"] | {
        "airflow": provider,
        "airflowDagRun": airflow_dag_run,
        "contentAddressedSkip": _from_attrs(ContentAddressedSkipRunFacet),
    }
    dataset_facets = standard["dataset"] | {
        "partition": _from_attrs(PartitionDatasetFacet),
        "manifest": _from_attrs(ManifestDatasetFacet, {"committedAt": _date_time}),
    }
    dataset = {"namespace": _name, "name": _name}
    return _object(
        required={"eventTime": _date_time, "producer": _name, "schemaURL": _name,
                  "run": _object(required={"runId": _name}, optional={"facets": _facets(run_facets)}),
                  "job": _object(required=dataset, optional={"facets": _facets({})})},
        optional={
            "eventType": _event_type,
            "inputs": _array(_object(required=dataset, optional={"facets": _facets(dataset_facets),
                                                                  "inputFacets": _facets(standard["input"])})),
            "outputs": _array(_object(required=dataset, optional={"facets": _facets(dataset_facets),
                                                                   "outputFacets": _facets(standard["output"])})),
        })


def validate_event(body: Any) -> None:
    """Raise InvalidEvent unless ``body`` (parsed JSON) is a RunEvent the store can take (see the
    module's doc); returns nothing."""
    if type(body) is not dict:
        raise InvalidEvent("", f"expected a JSON object (a RunEvent), got {_kind(body)}")
    try:
        _check_values(body, 0)
    except _Bad as bad:
        raise InvalidEvent(_path(bad.path), bad.reason) from None
    if "run" not in body or "job" not in body:
        raise InvalidEvent("", "not a RunEvent (no run/job object)")
    try:
        _run_event_check()(body)
    except _Bad as bad:
        raise InvalidEvent(_path(bad.path), bad.reason) from None
