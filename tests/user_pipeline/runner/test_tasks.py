"""Which spam labels version a spam_filter run works on (user_pipeline.runner.tasks.labels_version)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from user_pipeline.runner.tasks import labels_version


@dataclass
class _Event:
    extra: dict
    timestamp: datetime


@dataclass
class _DagRun:
    conf: dict = field(default_factory=dict)


def test_the_triggering_asset_event_names_the_version(cfg):
    events = {"reference.spam_labels": [_Event({"version": "v2"}, datetime(2026, 1, 1, tzinfo=UTC)),
                                        _Event({"version": "v3"}, datetime(2026, 1, 2, tzinfo=UTC)),
                                        _Event({}, datetime(2026, 1, 3, tzinfo=UTC))]}
    assert labels_version(cfg, _DagRun({"labels_version": "v9"}), events) == "v3"  # the latest that names one


def test_without_a_scheduler_the_conf_carries_the_events_or_the_version(cfg):
    conf = {"asset_events": [{"asset": "reference.spam_labels", "extra": {"version": "v4"}}]}
    assert labels_version(cfg, _DagRun(conf), None) == "v4"
    assert labels_version(cfg, _DagRun({"labels_version": "v5"}), {}) == "v5"


def test_otherwise_the_pin(cfg):
    assert labels_version(cfg, _DagRun(), None) == cfg.spam.labels_version
    assert labels_version(cfg, None, None) == cfg.spam.labels_version
