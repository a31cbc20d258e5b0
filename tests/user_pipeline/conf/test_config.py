"""The one config: the parts other modules derive from it."""

from __future__ import annotations

from user_pipeline.config import load_config


def test_the_log_paths_of_a_file_transport_alone_or_inside_a_composite(tmp_path, monkeypatch):
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    composite = {"transport": {"type": "composite", "continue_on_failure": True, "transports": [
        {"type": "http", "url": "http://127.0.0.1:5000"},
        {"type": "file", "log_file_path": "{data_root}/lineage/events.jsonl", "append": True},
        {"type": "file", "log_file_path": "s3://bucket/events.jsonl"},  # not local: not a log we can read
    ]}}
    cfg = load_config(data_root=str(tmp_path), lineage={"openlineage": composite})
    assert cfg.openlineage_log_paths() == [f"{tmp_path}/lineage/events.jsonl"]
    single = load_config(data_root=str(tmp_path))
    assert single.openlineage_log_paths() == [f"{tmp_path}/lineage/events.jsonl"]
