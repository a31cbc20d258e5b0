"""The Airflow asset of a dataset and the extra of a fix's asset event, declared once for the DAGs
(``user_pipeline.runner.tasks.asset``, the fix DAGs' outlets) and for a fix that announces itself
through Airflow's REST API from outside Airflow (``user_pipeline.fix --airflow-url``). Plain
values: nothing here imports Airflow."""

from __future__ import annotations

from typing import Any

from user_pipeline.config import PipelineConfig


def asset_name(dataset: str) -> str:
    """The name of the dataset's Airflow asset: the dataset itself."""
    return dataset


def asset_uri(dataset: str) -> str:
    """The URI of the dataset's Airflow asset: ``pipeline://reference/id_pairs``."""
    return f"pipeline://{dataset.replace('.', '/')}"


def fix_event_extra(cfg: PipelineConfig, dataset: str, value: str) -> dict[str, Any]:
    """The extra of the asset event of a fix (``user_pipeline.fix``) that committed ``dataset``'s
    partition ``value``: ``version`` is what a version-taking step is given (``v2``; a drop's date),
    with the content version and the version it replaces, from the committed manifest."""
    from lineage.catalog import Catalog

    manifest = Catalog(cfg).require(dataset, value)
    replaced = manifest.extra.get("replaces") or {}
    return {"version": value, "partition": manifest.partition, "content_version": manifest.version,
            "replaces": replaced.get("version"), "replaces_partition": replaced.get("partition")}
