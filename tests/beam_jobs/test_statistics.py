import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

import beam_jobs.statistics as job
import user_pipeline.reports.statistics
from lineage.catalog import Catalog, Producer
from tests.transforms.test_schema import sample_table
from transforms import statistics as st
from transforms.drift import compare
from transforms.schema import (
    CLEAN_USERS,
    DATASET_SCHEMAS,
    FEATURE,
    FREE_TEXT,
    IDENTIFIER,
    LABEL,
    METADATA,
    PARTITION,
    PERSONAL,
    PROVENANCE,
    TIMESTAMP,
    columns_with,
    with_roles,
)
from user_pipeline.config import DEFAULT_CONFIG_PATH
from user_pipeline.reports.paths import DRIFT_CHART, HISTOGRAMS_CHART, statistics_dir

SOURCE, TARGET = "curated.users_clean", "stats.users_clean"
STATUSES = ["employed", "unemployed", "student", "self_employed", "retired"]


def _table(seed, n=4000, p=(0.4, 0.3, 0.15, 0.1, 0.05), age_mean=40.0):
    rng = np.random.default_rng(seed)
    return pa.table({
        "source_record_id": [f"web:{seed}:{i}" for i in range(n)],
        "employment_status": pa.array(rng.choice(STATUSES, n, p=p).tolist(), mask=rng.random(n) < 0.02),
        "age_years": pa.array(rng.normal(age_mean, 10, n).round().astype("int64")),
        "job_page_views_7d": pa.array(rng.poisson(5, n).astype("int64")),
    })


@pytest.fixture
def commit(cfg):
    catalog = Catalog(cfg)

    def commit(ds, table):
        return catalog.write_table(SOURCE, ds, table, producer=Producer("test", "test-run"), inputs=[],
                                   code_version="test")
    return commit


def _events(cfg):
    path = Path(cfg.openlineage_client_config()["transport"]["log_file_path"])
    return [json.loads(line) for line in path.read_text().splitlines()]


class _Page(HTMLParser):
    """The embedded JSON, the ids of tables, the image sources and the table cells of a page."""

    def __init__(self, text):
        super().__init__()
        self.data, self.images, self.cells, self._in_data, self._in_cell = None, [], [], False, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("id") == "data":
            self._in_data = True
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "td":
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        self._in_data = self._in_data and tag != "script"
        self._in_cell = self._in_cell and tag != "td"

    def handle_data(self, data):
        if self._in_data:
            self.data = json.loads(data)
        elif self._in_cell:
            self.cells[-1] += data


def _config_with(tmp_path, **sections):
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_statistics_committed_as_proto_and_report_equal_direct_computation(cfg, commit):
    commit("2026-01-01", _table(1))
    source = commit("2026-01-02", _table(2))
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-02"]) == 0

    catalog = Catalog(cfg)
    manifest = catalog.require(TARGET, "2026-01-02")
    assert manifest.inputs[0] == source.ref.to_json()
    assert manifest.inputs[1]["partition"] == "ds=2026-01-01"
    names = {Path(f).name for f in manifest.files}
    assert names == {"statistics.pb", "statistics.json", "drift.json"}
    base = catalog.partition_uri(TARGET, "2026-01-02")
    pb = next(f for f in manifest.files if f.endswith(".pb"))
    stats = st.from_bytes(Path(f"{base}/{pb}").read_bytes())
    js = next(f for f in manifest.files if f.endswith("statistics.json"))
    assert st.from_json(Path(f"{base}/{js}").read_text()) == stats

    table = _table(2)
    age = table.column("age_years").to_numpy()
    f = st.feature(stats, "age_years")
    assert f.num_stats.mean == pytest.approx(age.mean()) and f.num_stats.std_dev == pytest.approx(age.std())
    statuses = [v for v in table.column("employment_status").to_pylist() if v is not None]
    e = st.feature(stats, "employment_status")
    assert st.common(e).num_missing == table.column("employment_status").null_count
    assert st.category_counts(e) == {s: statuses.count(s) for s in set(statuses)}

    folder = Path(statistics_dir(cfg, SOURCE, "ds=2026-01-02"))
    page = _Page((folder / "index.html").read_text())
    rows = {r["feature"]: r for r in page.data}
    assert rows["age_years"]["mean"] == pytest.approx(age.mean())
    assert rows["job_page_views_7d"]["max"] == table.column("job_page_views_7d").to_numpy().max()
    assert f"{age.mean():.4g}" in page.cells
    assert HISTOGRAMS_CHART in page.images
    assert (folder / HISTOGRAMS_CHART).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    drift = _Page((folder / "drift.html").read_text())
    assert DRIFT_CHART in drift.images and (folder / DRIFT_CHART).read_bytes()[:4] == b"\x89PNG"
    compared = {d["feature"]: d for d in drift.data}
    assert "source_record_id" not in compared  # an identifier (transforms.schema): ids do not drift
    assert compared["employment_status"]["metric"] == "linf" and not compared["employment_status"]["fired"]
    assert compared["age_years"]["metric"] == "js"

    complete = [e for e in _events(cfg) if e["job"]["name"] == job.NAME and e["eventType"] == "COMPLETE"][-1]
    analysed, *reference = complete["inputs"]
    assert analysed["facets"]["partition"]["value"] == "2026-01-02" and reference
    # The drift reference partitions are inputs without the analysed partition's figures.
    assert all(not r.get("inputFacets") and "drift" not in r["facets"] for r in reference)
    metrics = analysed["inputFacets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == table.num_rows
    assert metrics["columnMetrics"]["age_years"]["min"] == age.min()
    assert metrics["columnMetrics"]["age_years"]["sum"] == pytest.approx(age.sum())
    assertions = {a["column"]: a for a in analysed["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert float(assertions["employment_status"]["actual"]) == pytest.approx(compared["employment_status"]["value"])
    assert analysed["facets"]["drift"]["features"][0]["feature"] in compared
    assert complete["outputs"][0]["name"] == TARGET


def test_first_partition_has_no_reference_and_rerun_skips(cfg, commit):
    commit("2026-01-01", _table(1))
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-01"]) == 0
    page = (Path(statistics_dir(cfg, SOURCE, "ds=2026-01-01")) / "drift.html").read_text()
    assert re.search(r'id="reference">none<', page)
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-01"]) == 0
    last = [e for e in _events(cfg) if e["job"]["name"] == job.NAME][-1]
    assert "contentAddressedSkip" in last["run"]["facets"]


def test_failure_severity_drift_exits_1_and_warning_exits_0(cfg, commit, tmp_path, capsys):
    commit("2026-01-01", _table(1))
    commit("2026-01-02", _table(2, p=(0.3, 0.4, 0.15, 0.1, 0.05)))  # a 10-point shift
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-02"]) == 0
    assert "drift warning: employment_status" in capsys.readouterr().out
    strict = _config_with(tmp_path, drift={"features": {"employment_status": {"severity": "failure"}}})
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-02", "--config", strict]) == 1
    assert "employment_status" in capsys.readouterr().err
    # the statistics are committed all the same; the run is FAIL in lineage, with the figures
    assert Catalog(cfg).require(TARGET, "2026-01-02").extra["drift_failures"] == ["employment_status"]
    fail = [e for e in _events(cfg) if e["job"]["name"] == job.NAME][-1]
    assert fail["eventType"] == "FAIL"
    analysed = next(i for i in fail["inputs"] if i["name"] == SOURCE)
    failed = [a for a in analysed["inputFacets"]["dataQualityAssertions"]["assertions"] if not a["success"]]
    assert [(a["column"], a["severity"]) for a in failed] == [("employment_status", "error")]


def test_explicit_reference_and_span(cfg, commit):
    for day, seed in (("2026-01-01", 1), ("2026-01-02", 2), ("2026-01-03", 3)):
        commit(day, _table(seed))
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-03", "--reference", "ds=2026-01-01"]) == 0
    inputs = Catalog(cfg).require(TARGET, "2026-01-03").inputs
    assert [i["partition"] for i in inputs] == ["ds=2026-01-03", "ds=2026-01-01"]
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-03", "--reference-days", "2"]) == 0
    inputs = Catalog(cfg).require(TARGET, "2026-01-03").inputs
    assert [i["partition"] for i in inputs] == ["ds=2026-01-03", "ds=2026-01-01", "ds=2026-01-02"]


def test_cannot_run_exits_2(cfg, commit, capsys):
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-05"]) == 2
    assert "no committed partition" in capsys.readouterr().err
    commit("2026-01-01", _table(1))
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-01", "--reference", "ds=2025-12-31"]) == 2
    assert job.main(["--dataset", "staging.users_ingested", "--ds", "2026-01-01"]) == 2
    assert "statistics.outputs" in capsys.readouterr().err
    assert Catalog(cfg).manifest(TARGET, "2026-01-01") is None


def test_a_crash_before_the_commit_leaves_nothing_committed(cfg, commit, monkeypatch):
    commit("2026-01-01", _table(1))

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(user_pipeline.reports.statistics, "write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        job.run(["--dataset", SOURCE, "--ds", "2026-01-01"], cfg=cfg)
    assert Catalog(cfg).manifest(TARGET, "2026-01-01") is None
    assert Catalog(cfg).committed(TARGET) == []
    assert [e["eventType"] for e in _events(cfg) if e["job"]["name"] == job.NAME] == ["START", "FAIL"]


@pytest.mark.parametrize("dataset", sorted(DATASET_SCHEMAS))
def test_ids_personal_data_free_text_timestamps_and_run_ids_are_never_drift_checked(cfg, dataset):
    """Over every declared schema, as the job compares (a table whose files lost the roles takes them from
    the dataset): only features, labels and metadata are compared, and statistics leave run ids out."""
    schema = DATASET_SCHEMAS[dataset]
    plain = pa.schema([(f.name, f.type) for f in schema])
    current, reference = sample_table(schema, 40).cast(plain), sample_table(schema, 40, offset=20).cast(plain)
    stats = job.describe(current, "current", cfg, dataset)
    drifts = compare(stats, job.describe(reference, "reference", cfg, dataset), cfg.drift,
                     tables=(current, reference), schema=with_roles(current.schema, dataset))
    compared = {d.feature for d in drifts}
    assert not compared & set(columns_with(schema, IDENTIFIER, PERSONAL, FREE_TEXT, TIMESTAMP, PARTITION, PROVENANCE))
    assert compared == set(columns_with(schema, FEATURE, LABEL, METADATA))
    assert st.feature_names(stats) == [n for n in schema.names if n not in columns_with(schema, PROVENANCE)]


def test_the_job_does_not_flag_canonical_ids_or_id_merge_run_ids(cfg, commit):
    """What the demo's drift pages flagged on every date before roles were declared."""
    for day, offset in (("2026-01-01", 0), ("2026-01-02", 100)):
        commit(day, sample_table(CLEAN_USERS, 50, offset=offset))
    assert job.main(["--dataset", SOURCE, "--ds", "2026-01-02"]) == 0
    manifest = Catalog(cfg).require(TARGET, "2026-01-02")
    drift = json.loads(Path(job._committed_file(Catalog(cfg), manifest, job.DRIFT_JSON)).read_text())
    compared = {d["feature"] for d in drift["drifts"]}
    assert "age_years" in compared and "clean_flags" in compared
    assert not compared & {"canonical_id", "id_merge_run_id", "source_record_id", "profile_text", "ds"}
