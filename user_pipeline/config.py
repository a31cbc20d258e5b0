"""Typed pipeline configuration, loaded once from YAML (``conf/pipeline.yaml`` by default).

This is the only module that reads environment variables for pipeline settings:
``PIPELINE_CONFIG`` (path of the YAML file) and ``PIPELINE_DATA_ROOT`` (overrides ``data_root``).
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = REPO_ROOT / "conf" / "pipeline.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    path: str
    partitioning: Literal["ds", "version"]


class BeamConfig(_Strict):
    runner: str = "FnApiRunner"
    options: dict[str, Any] = Field(default_factory=dict)
    batch_size: int = 10000


class DatagenConfig(_Strict):
    seed: int = 0
    users_per_day: int = 2000
    start_date: str = "2026-01-01"
    duplicate_rate: float = 0.15
    spam_rate: float = 0.05
    malformed_rate: float = 0.005
    # The UCI SMS Spam Collection (dataset 228, CC BY 4.0) is not shipped with the project;
    # relative paths are resolved against the project folder.
    sms_path: str = "../shared/data/sms_spam_collection.tsv"


class CleanConfig(_Strict):
    min_age: int = 16
    max_age: int = 100
    max_activity_count: int = 10000
    default_phone_country_code: str = "44"



class SpamModelConfig(_Strict):
    """The text model: word n-gram TF-IDF + logistic regression (``transforms.spam.build_text_model``)."""

    c: float = 10.0
    max_ngram: int = 2
    seed: int = 7


class SpamSignalsConfig(_Strict):
    """Thresholds of the account signals (``transforms.spam.account_signals``)."""

    burst_min_signups: int = 5
    min_link_phone_density: float = 0.05
    min_profile_completeness: float = 0.75
    max_job_page_views_7d: int = 300
    max_applications_30d: int = 100


class SpamConfig(_Strict):
    """Spam filter training, de-spam scoring and the label tooling (see ``conf/pipeline.yaml``)."""

    labels_version: str = "v1"
    threshold: float = Field(0.5, gt=0, le=1)
    text_only_threshold: float = Field(0.8, gt=0, le=1)
    model: SpamModelConfig = SpamModelConfig()
    cv_folds: int = Field(5, ge=2)
    min_agreement: float = 0.8
    signal_weights: dict[str, float] = Field(default_factory=lambda: {
        "signup_burst": 0.30, "disposable_email": 0.35, "link_phone_density": 0.25,
        "incomplete_profile": 0.15, "implausible_activity": 0.35,
    })
    signals: SpamSignalsConfig = SpamSignalsConfig()


class IdMatcherModelConfig(_Strict):
    """The ID matcher (``user_pipeline.training.id_matcher``): a classifier on the comparison features."""

    # Both fit the generated pairs perfectly out of fold; on 100k generated users the logistic
    # regression merged with F1 0.985 against 0.975 for the trees (bench note in user_pipeline.training.id_matcher).
    kind: Literal["logistic_regression", "hist_gradient_boosting"] = "logistic_regression"
    max_iter: int = 100
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    seed: int = 7
    cv_folds: int = Field(5, ge=2)  # out-of-fold scores choose the threshold and measure the model


class IdMergeConfig(_Strict):
    """ID-merge (``beam_jobs.id_merge``, ``transforms.id_merge``; see ``conf/pipeline.yaml``)."""

    pairs_version: str = "v1"  # the reference.id_pairs version the matcher is trained from
    model: IdMatcherModelConfig = IdMatcherModelConfig()
    # None: the F1-maximising threshold the training chose (stored with the model).
    threshold: float | None = Field(None, gt=0, lt=1)
    max_block_size: int = Field(500, ge=2)
    max_cluster_size: int = Field(20, ge=2)
    # "average": clusters of 3+ re-clustered by average linkage over all their pair scores
    # (transforms.id_merge.split_loose_clusters); "single": the union-find components as they are.
    cluster_linkage: Literal["average", "single"] = "average"
    # Records per normalisation/blocking batch: values are cleaned once per distinct value of a
    # batch, so bigger batches repeat less work (1M users: 10k -> 100k rows saves ~5 s).
    record_batch_size: int = Field(100000, ge=1)
    score_batch_size: int = Field(50000, ge=1)
    # Prior canonical users of the last this many committed dates take part in a day's merge.
    anchor_days: int = Field(7, ge=0)
    # Survivorship: most recent non-null value per field; ties go to the earlier source here.
    source_priority: list[str] = ["web", "mobile", "partner"]


class PreprocessConfig(_Strict):
    window_days: int = 3
    # train/dev/test shares of the ids assigned in each run (transforms/splits.py)
    split_fractions: dict[str, float] = {"train": 0.8, "dev": 0.1, "test": 0.1}
    split_salt: str = "user_pipeline.v1"
    stratify_by: list[str] = ["source"]  # besides the label


class TrainConfig(_Strict):
    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 0.01
    seed: int = 7


class EvaluationConfig(_Strict):
    """Error analysis by metadata (user_pipeline/training/evaluate.py): the job-seeker model per slice."""

    slice_by: list[str] = ["source", "country", "signup_channel", "employment_status"]
    threshold: float = 0.5  # the decision threshold the per-slice accuracy/precision/recall use
    min_rows: int = 30  # slices with fewer rows are listed after the others (noise)
    reports_dir: str = "reports/evaluation"  # under the data root


class ServeConfig(_Strict):
    """``lineage serve``: the HTTP service over the store (lineage/service/)."""

    host: str = "127.0.0.1"  # loopback unless you mean it
    port: int = 5000  # OpenLineage's http transport posts to <url>/api/v1/lineage, as for Marquez
    max_body_bytes: int = 10_000_000  # larger requests are refused (413)
    # The write token is read from this environment variable (never from the config file);
    # when it is set, POSTs need "Authorization: Bearer <token>".
    write_token_env: str = "LINEAGE_WRITE_TOKEN"
    # Writes are acknowledged once appended here; an indexer process stores them (lineage/spool.py).
    # One folder per store; "{data_root}" is expanded; a local disk.
    spool_dir: str = "{data_root}/lineage/spool"
    spool_segment_bytes: int = 64 << 20  # a new spool file past this size; stored files are deleted
    # A read waits until the events acknowledged before it are stored; past this it gets 503.
    read_wait_s: float = 30.0
    # Host names (any port) the service answers to; others get 403 (DNS rebinding). Add the names
    # people and producers use when it listens beyond loopback; "*" turns the check off.
    allowed_hosts: list[str] = ["localhost", "127.0.0.1", "::1"]
    # Browser origins (host names, any scheme and port) that may write; a request without an
    # Origin header (producers) is not affected. docs/threat-model.md.
    allowed_origins: list[str] = ["localhost", "127.0.0.1", "::1"]


class LineageConfig(_Strict):
    namespace: str = "user_pipeline"
    openlineage: dict[str, Any] = Field(default_factory=dict)
    # SQLAlchemy URL of the lineage store (lineage/store/); "{data_root}" is expanded.
    # SQLite by default; the same schema and SQL run on PostgreSQL (postgresql+psycopg://...).
    store_url: str = "sqlite:///{data_root}/lineage/lineage.db"
    # Set by load_config from the environment: True when the standard OpenLineage variables are
    # present, in which case openlineage-python configures itself from them.
    use_openlineage_env: bool = False
    serve: ServeConfig = Field(default_factory=ServeConfig)


class AirflowConfig(_Strict):
    dag_id: str = "user_pipeline"
    schedule: str | None = "@daily"
    catchup: bool = False
    start_date: str = "2026-01-01"


class Bounds(_Strict):
    """A closed interval; a missing end is open."""

    min: float | None = None
    max: float | None = None


class RowCountGate(_Strict):
    """Rows of a partition against the previous committed partition of the same dataset."""

    min_ratio: float = 0.7   # fewer than this share of the previous partition's rows fails
    max_ratio: float = 3.0   # more than this many times its rows warns
    min_rows: int = 1        # a partition below this always fails (an empty day)


class NullTolerance(_Strict):
    """``mostly`` of the not-null checks on optional columns: the share of rows that must be present."""

    default_mostly: float = Field(0.8, ge=0, le=1)
    columns: dict[str, float] = Field(default_factory=dict)

    def mostly(self, column: str) -> float:
        return self.columns.get(column, self.default_mostly)


class CheckOverride(_Strict):
    """Settings of one check of one dataset, changed without editing Python (``gates.overrides``)."""

    severity: Literal["critical", "warning", "info"] | None = None
    mostly: float | None = Field(None, ge=0, le=1)
    min_value: float | None = None
    max_value: float | None = None
    enabled: bool = True


class GatesConfig(_Strict):
    """Thresholds of the Great Expectations gates (``expectations/``; docs/architecture.md#gates)."""

    reports_dir: str = "reports/gates"   # under the data root: <reports_dir>/<dataset>/<partition>.html
    examples: int = 5                    # bad values shown per failed check
    row_count: RowCountGate = RowCountGate()
    max_dead_letter_share: float = 0.05  # staging.users_ingested: dead-lettered lines / lines read
    max_quarantine_share: float = 0.3  # staging.users_despammed: quarantined users / users read
    max_merged_share: float = 0.3      # staging.users_merged: records merged away / records read
    null_tolerance: NullTolerance = NullTolerance()
    means: dict[str, Bounds] = Field(default_factory=lambda: {
        "age_years": Bounds(min=25, max=65), "job_page_views_7d": Bounds(min=0, max=500),
    })
    zscore_mean_abs_max: float = 0.01    # features: |mean| of every z-scored feature on the train split
    label_rate: Bounds = Bounds(min=0.1, max=0.6)
    spam_share: Bounds = Bounds(min=0.05, max=0.35)
    match_share: Bounds = Bounds(min=0.2, max=0.6)
    overrides: dict[str, dict[str, CheckOverride]] = Field(default_factory=dict)


class StatisticsConfig(_Strict):
    """Statistics of committed partitions (transforms/statistics.py, beam_jobs/statistics.py)."""

    # dataset -> the dataset its statistics are committed as (both registered under datasets:)
    outputs: dict[str, str] = Field(default_factory=lambda: {"curated.users_clean": "stats.users_clean"})
    num_quantiles: int = Field(10, ge=1)
    num_buckets: int = Field(10, ge=1)  # equal-width histogram buckets (what JS divergence compares)
    top_k: int = Field(20, ge=1)  # top values kept per categorical column (what L-infinity compares)
    reports_dir: str = "reports/statistics"  # under the data root: <dir>/<dataset>/<partition>/


class FeatureDrift(_Strict):
    """One feature's drift settings (``drift.features.<name>``); unset fields take the defaults."""

    threshold: float | None = Field(None, ge=0)
    severity: Literal["warning", "failure"] | None = None
    enabled: bool = True


class DriftConfig(_Strict):
    """Drift and skew checks (transforms/drift.py): TFDV's L-infinity (categorical) and JS (numeric)."""

    reference_days: int = Field(3, ge=1)  # default reference: committed partitions in the N days before ds
    linf_threshold: float = Field(0.03, ge=0)
    # JS on shared bins: no-drift noise was <= 0.003 (99th pct, 2,000 rows); a 0.3 sd mean shift gives ~0.016
    js_threshold: float = Field(0.01, ge=0)
    psi_epsilon: float = Field(1e-4, gt=0)  # stands in for an empty bucket in the PSI's logarithm
    severity: Literal["warning", "failure"] = "warning"
    features: dict[str, FeatureDrift] = Field(default_factory=dict)

    def threshold(self, feature: str, numeric: bool) -> float:
        """The feature's threshold: its override, else the default of its kind."""
        own = self.features.get(feature)
        if own is not None and own.threshold is not None:
            return own.threshold
        return self.js_threshold if numeric else self.linf_threshold

    def severity_of(self, feature: str) -> str:
        own = self.features.get(feature)
        return own.severity if own is not None and own.severity else self.severity

    def enabled(self, feature: str) -> bool:
        """Whether the feature is compared (``drift.features.<name>.enabled``); which columns are
        features at all is their role in the dataset's schema (``transforms.drift.compared_columns``)."""
        own = self.features.get(feature)
        return own is None or own.enabled


class PipelineConfig(_Strict):
    data_root: str
    datasets: dict[str, DatasetSpec]
    beam: BeamConfig = BeamConfig()
    datagen: DatagenConfig = DatagenConfig()
    clean: CleanConfig = CleanConfig()
    spam: SpamConfig = SpamConfig()
    id_merge: IdMergeConfig = IdMergeConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    train: TrainConfig = TrainConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    lineage: LineageConfig = LineageConfig()
    airflow: AirflowConfig = AirflowConfig()
    gates: GatesConfig = GatesConfig()
    statistics: StatisticsConfig = StatisticsConfig()
    drift: DriftConfig = DriftConfig()
    # Where this configuration was read from, so subprocesses (Beam jobs) load the same one.
    source_path: str = ""

    def dataset(self, name: str) -> DatasetSpec:
        """The registry entry of a logical dataset name, with a clear error for unknown names."""
        try:
            return self.datasets[name]
        except KeyError:
            raise KeyError(f"unknown dataset {name!r}; registered: {sorted(self.datasets)}") from None

    def openlineage_client_config(self) -> dict[str, Any]:
        """The openlineage-python config dict with ``{data_root}`` expanded."""
        return _expand(copy.deepcopy(self.openlineage_raw), self.data_root)

    @property
    def openlineage_raw(self) -> dict[str, Any]:
        return self.lineage.openlineage

    def openlineage_log_paths(self) -> list[str]:
        """Local JSONL logs of the configured OpenLineage transport (file, or file inside composite)."""
        found: list[str] = []

        def walk(transport: Any) -> None:
            if not isinstance(transport, dict):
                return
            if transport.get("type") == "file" and transport.get("log_file_path"):
                found.append(str(transport["log_file_path"]))
            members = transport.get("transports") or []
            for member in members.values() if isinstance(members, dict) else members:
                walk(member)

        walk(self.openlineage_client_config().get("transport"))
        return [p for p in found if "://" not in p]


def _expand(value: Any, data_root: str) -> Any:
    if isinstance(value, str):
        return value.replace("{data_root}", data_root)
    if isinstance(value, dict):
        return {k: _expand(v, data_root) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, data_root) for v in value]
    return value


def _resolve_root(root: str) -> str:
    if "://" in root:
        return root.rstrip("/")
    path = Path(root).expanduser()
    if not path.is_absolute():
        path = REPO_ROOT / path
    return str(path.resolve())


_OPENLINEAGE_ENV = ("OPENLINEAGE_CONFIG", "OPENLINEAGE_URL")


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> PipelineConfig:
    """Load the pipeline configuration.

    ``path`` defaults to ``$PIPELINE_CONFIG`` or ``conf/pipeline.yaml``; ``data_root`` may be
    overridden by ``$PIPELINE_DATA_ROOT`` or by the ``data_root`` keyword (keywords win).
    Top-level ``overrides`` replace whole sections (used by tests and the benchmark).
    """
    env = os.environ
    cfg_path = Path(path or env.get("PIPELINE_CONFIG") or DEFAULT_CONFIG_PATH).resolve()
    with open(cfg_path, encoding="utf-8") as fh:
        raw: dict[str, Any] = yaml.safe_load(fh) or {}
    if env.get("PIPELINE_DATA_ROOT"):
        raw["data_root"] = env["PIPELINE_DATA_ROOT"]
    for key, value in overrides.items():
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    raw["data_root"] = _resolve_root(str(raw.get("data_root", "_data")))
    datagen = dict(raw.get("datagen") or {})
    if "sms_path" in datagen:
        datagen["sms_path"] = str((REPO_ROOT / Path(datagen["sms_path"]).expanduser()).resolve())
    else:
        datagen["sms_path"] = str((REPO_ROOT / DatagenConfig.model_fields["sms_path"].default).resolve())
    raw["datagen"] = datagen
    lineage = dict(raw.get("lineage") or {})
    lineage["use_openlineage_env"] = any(k in env for k in _OPENLINEAGE_ENV) or any(
        k.startswith("OPENLINEAGE__") for k in env
    )
    raw["lineage"] = lineage
    raw["source_path"] = str(cfg_path)
    return PipelineConfig.model_validate(raw)


@lru_cache(maxsize=8)
def cached_config(path: str | None = None) -> PipelineConfig:
    """Load once per process (DAG parsing re-imports the DAG file often)."""
    return load_config(path)
