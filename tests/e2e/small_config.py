"""A small copy of the pipeline config on a temporary data root, for end-to-end runs."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def small_config(root: Path, users_per_day: int, lineage_url: str | None = None) -> tuple[Path, dict[str, str]]:
    """Write the config (small days, a 2-day window, 2 epochs) under ``root``; return its path and
    an environment for child processes that points at it (and nothing of the caller's).

    With ``lineage_url`` the events go to ``lineage serve`` there through OpenLineage's http
    transport, composite with the JSONL file (production wiring, README)."""
    raw = yaml.safe_load((Path(__file__).parents[2] / "conf" / "pipeline.yaml").read_text())
    raw["data_root"] = str(root / "data")
    raw["datagen"]["users_per_day"] = users_per_day
    raw["preprocess"]["window_days"] = 2
    raw["train"]["epochs"] = 2
    if lineage_url:
        log = raw["lineage"]["openlineage"]["transport"]
        raw["lineage"]["openlineage"]["transport"] = {
            "type": "composite", "continue_on_failure": True, "continue_on_success": True,
            "transports": [{"type": "http", "url": lineage_url, "timeout": 30}, log]}
    config = root / "pipeline.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "AIRFLOW", "PIPELINE"))}
    env["PIPELINE_CONFIG"] = str(config)
    return config, env
