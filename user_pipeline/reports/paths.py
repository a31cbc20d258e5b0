"""Where report pages live under the data root (one place, so jobs and tests agree)."""

from __future__ import annotations

from user_pipeline.config import PipelineConfig


def statistics_dir(cfg: PipelineConfig, dataset: str, partition: str) -> str:
    """Folder of a partition's statistics and drift pages (``partition`` is its label, ``ds=...``)."""
    return f"{cfg.data_root}/{cfg.statistics.reports_dir}/{dataset}/{partition}"


STATISTICS_PAGE = "index.html"
DRIFT_PAGE = "drift.html"
HISTOGRAMS_CHART = "histograms.png"
DRIFT_CHART = "drift.png"
