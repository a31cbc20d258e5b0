"""Which reference version an asset-scheduled run works on (user_pipeline.runner.tasks.asset_version)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from user_pipeline.runner.tasks import asset_version, pinned_version
from user_pipeline.steps.registry import steps


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
    # the latest event that names one
    assert asset_version(cfg.spam.labels_version, _DagRun({"labels_version": "v9"}), events) == "v3"


def test_without_a_scheduler_the_conf_carries_the_events_or_the_version(cfg):
    conf = {"asset_events": [{"asset": "reference.spam_labels", "extra": {"version": "v4"}}]}
    assert asset_version(cfg.spam.labels_version, _DagRun(conf), None) == "v4"
    assert asset_version(cfg.spam.labels_version, _DagRun({"labels_version": "v5"}), {}) == "v5"


def test_otherwise_the_pin(cfg):
    assert asset_version(cfg.spam.labels_version, _DagRun(), None) == cfg.spam.labels_version
    assert asset_version(cfg.spam.labels_version, None, None) == cfg.spam.labels_version


def test_each_version_taking_step_defaults_to_its_own_pin(cfg):
    pins = {s.name: pinned_version(cfg, s) for s in steps() if s.version_flag}
    assert pins["train_spam_filter"] == pins["gate_spam_labels"] == cfg.spam.labels_version
    assert pins["train_id_matcher"] == pins["gate_id_pairs"] == cfg.id_merge.pairs_version

