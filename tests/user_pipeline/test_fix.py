"""Fixing an upstream dataset (user_pipeline.fix): a corrected version, gated, committed with lineage
naming the version it replaces, announced on its asset; then retraining and backfill planning
follow that version, and versions answer to the labels users know."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import user_pipeline.fix
import user_pipeline.training.id_matcher
from bench.lineage_synth import EventFactory, ds, ver
from lineage import backfill
from lineage.catalog import Catalog, Producer
from lineage.cli.commands import main as lineage_main
from lineage.queries import LineageLookupError, impact, resolve, upstream
from lineage.store import LineageStore
from tests.user_pipeline.labels.helpers import SEED
from transforms.ingest import SOURCES
from user_pipeline.datagen import reference
from user_pipeline.runner.tasks import task_arguments
from user_pipeline.steps.assets import fix_event_extra
from user_pipeline.steps.harness import StepRefused
from user_pipeline.steps.models import ID_MATCHER
from user_pipeline.steps.registry import step

PAIRS = "reference.id_pairs"
PARTNER = "raw.users_partner"
D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"


@dataclass
class _Event:  # an Airflow asset event as a task receives it (triggering_asset_events)
    extra: dict
    timestamp: datetime


def _events(cfg) -> list[dict]:
    path = Path(cfg.openlineage_client_config()["transport"]["log_file_path"])
    return [json.loads(line) for line in path.read_text().splitlines()]


def _corrected_pairs(path: Path, flip: int = 12) -> Path:
    """The generated pairs with the labels of the first ``flip`` pairs corrected (flipped)."""
    table = reference.id_pairs(SEED)
    labels = table.column("is_match").to_pylist()
    labels[:flip] = [1 - v for v in labels[:flip]]
    pq.write_table(table.set_column(table.schema.get_field_index("is_match"), "is_match", pa.array(labels)), path)
    return path


def _commit_pairs(cfg):
    return Catalog(cfg).write_table(PAIRS, "v1", reference.id_pairs(SEED), producer=Producer("test", "datagen"),
                                    inputs=[], code_version="test")


def test_fixing_id_pairs_commits_a_version_naming_the_replaced_one_and_the_matcher_dag_trains_a_candidate(
        cfg, tmp_path):
    v1 = _commit_pairs(cfg)
    assert cfg.id_merge.pairs_version == "v1"
    outcome = user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "p.parquet")),
                                     "--new-version", "v2", "--reason", "12 pairs mislabelled"])
    v2 = outcome.output
    assert (v2.partition, v2.row_count, outcome.skipped) == ("version=v2", v1.row_count, False)
    assert v2.version != v1.version and v2.inputs == [v1.ref.to_json()]
    assert v2.extra["replaces"] == {"partition": "version=v1", "version": v1.version, "reason": "12 pairs mislabelled"}

    # One lineage run: the replaced version in, the new one out, and the facet saying so.
    (complete,) = [e for e in _events(cfg) if e["job"]["name"] == "user_pipeline.fix" and e["eventType"] == "COMPLETE"]
    assert [(d["name"], d["facets"]["partition"]["value"], d["facets"]["version"]["datasetVersion"])
            for d in complete["inputs"]] == [(PAIRS, "v1", v1.version)]
    assert [(d["name"], d["facets"]["partition"]["value"], d["facets"]["version"]["datasetVersion"])
            for d in complete["outputs"]] == [(PAIRS, "v2", v2.version)]
    replaces = complete["run"]["facets"]["replaces"]
    assert (replaces["replaces"], replaces["replacesPartition"], replaces["version"]) == (
        v1.version, "version=v1", v2.version)

    # The asset event its DAG emits names the new version and the one it replaces ...
    extra = fix_event_extra(cfg, PAIRS, "v2")
    assert extra == {"version": "v2", "partition": "version=v2", "content_version": v2.version,
                     "replaces": v1.version, "replaces_partition": "version=v1"}
    # ... so the id_matcher DAG run it triggers gates and trains on v2, while the pin stays v1.
    triggered = {PAIRS: [_Event(extra, datetime.now(UTC))]}
    train = step("train_id_matcher", "id_matcher")
    assert task_arguments(cfg, step("gate_id_pairs", "id_matcher"), None, triggered) == [
        "--dataset", PAIRS, "--version", "v2"]
    assert task_arguments(cfg, train, None, triggered) == ["--pairs-version", "v2"]
    assert task_arguments(cfg, train, None, None) == ["--pairs-version", "v1"]
    candidate = user_pipeline.training.id_matcher.run(task_arguments(cfg, train, None, triggered)).output
    assert candidate.inputs == [v2.ref.to_json()] and candidate.extra["pairs_version"] == "v2"
    assert candidate.version == ID_MATCHER.version(cfg, v2.ref) != ID_MATCHER.version(cfg, v1.ref)
    with pytest.raises(FileNotFoundError, match="version=v1"):
        ID_MATCHER.resolve(Catalog(cfg), cfg)  # the pinned matcher is not the candidate

    # Versions are immutable: the same content again is a no-op, other content under v2 is refused.
    again = user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(tmp_path / "p.parquet"), "--new-version", "v2"])
    assert again.skipped and again.output.version == v2.version
    with pytest.raises(FileExistsError, match="immutable"):
        user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "q.parquet", 3)),
                               "--new-version", "v2"])


def test_a_fix_its_gate_refuses_commits_nothing(cfg, tmp_path):
    _commit_pairs(cfg)
    table = reference.id_pairs(SEED)
    no_match = table.set_column(table.schema.get_field_index("is_match"), "is_match",
                                pc.multiply(table.column("is_match"), 0))
    pq.write_table(no_match, tmp_path / "bad.parquet")
    with pytest.raises(StepRefused, match="(?s)fix not committed: GATE FAILED.*is_match.match_share"):
        user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(tmp_path / "bad.parquet"), "--new-version", "v2"])
    catalog = Catalog(cfg)
    assert catalog.manifest(PAIRS, "v2") is None
    assert list(Path(catalog.fs_path(catalog.partition_uri(PAIRS, "v2"))).glob("run=*")) == []


def test_a_file_that_is_not_the_dataset_or_a_dataset_that_is_not_upstream_is_refused(cfg, tmp_path):
    _commit_pairs(cfg)
    pq.write_table(reference.id_pairs(SEED).drop_columns(["is_match"]), tmp_path / "short.parquet")
    with pytest.raises(user_pipeline.fix.FixError, match=r"missing \['is_match'\]"):
        user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(tmp_path / "short.parquet"), "--new-version", "v2"])
    with pytest.raises(LookupError, match="not an upstream dataset"):
        user_pipeline.fix.run(["--dataset", "curated.users_clean", "--ds", D1, "--file", str(tmp_path / "x.csv")])
    assert Catalog(cfg).manifest(PAIRS, "v2") is None


# -- a corrected raw drop, then the backfill plan -------------------------------------------------
PARTNER_FORMAT = SOURCES["partner"]


def _partner_csv(*names: str, header: tuple[str, ...] = PARTNER_FORMAT.columns) -> bytes:
    """A partner drop in its format (the header ingest requires, its delimiter), a row per name."""
    rows = [[f"P{i}", name, *[""] * (len(header) - 2)] for i, name in enumerate(names)]
    return "".join(PARTNER_FORMAT.delimiter.join(r) + "\n" for r in [list(header), *rows]).encode()


def _commit_drop(catalog: Catalog, day: str, payload: bytes):
    staged = catalog.stage(PARTNER, day, f"datagen-{day}")
    with catalog.fs.open(catalog.fs_path(staged.path("users_partner.csv")), "wb") as fh:
        fh.write(payload)
    return catalog.commit(staged, producer=Producer("user_pipeline.datagen.generate", "datagen"), inputs=[],
                          code_version="test")


def _pipeline_lineage(cfg, drops: dict) -> None:
    """Ingest, ID-merge (anchored on the day before) and clean of three dates, as the DAG records them."""
    f = EventFactory(start=datetime.now(UTC) - timedelta(hours=1))
    events = []
    for i, day in enumerate((D1, D2, D3)):
        ingested, merged = ds("staging.users_ingested", day, f"I{i}"), ds("staging.users_merged", day, f"M{i}")
        anchors = [ds("staging.users_merged", (D1, D2)[i - 1], f"M{i - 1}")] if i else []
        events += f.run("beam_jobs.ingest", "ingest", day, [ds(PARTNER, day, drops[day].version)], [ingested])
        events += f.run("beam_jobs.id_merge", "id_merge", day, [ingested, *anchors], [merged])
        events += f.run("beam_jobs.clean", "clean", day, [merged], [ds("curated.users_clean", day, f"C{i}")])
    log = Path(cfg.openlineage_client_config()["transport"]["log_file_path"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events)


def test_a_corrected_drop_is_recommitted_with_lineage_and_the_backfill_plans_only_that_date(cfg, tmp_path, capsys):
    catalog = Catalog(cfg)
    drops = {day: _commit_drop(catalog, day, _partner_csv(f"Doe, Ann{i}")) for i, day in enumerate((D1, D2, D3))}
    _pipeline_lineage(cfg, drops)
    corrected = tmp_path / "users_partner.csv"
    corrected.write_bytes(_partner_csv("Doe, Anne", "Roe, Bea"))

    fixed = user_pipeline.fix.run(["--dataset", PARTNER, "--ds", D2, "--file", str(corrected)]).output
    assert (fixed.partition, fixed.extra["replaces"]["version"]) == (f"ds={D2}", drops[D2].version)
    assert catalog.manifest(PARTNER, D2).version == fixed.version != drops[D2].version
    assert [f.rsplit("/", 1)[1] for f in fixed.files] == ["users_partner.csv"]
    assert fix_event_extra(cfg, PARTNER, D2)["replaces"] == drops[D2].version

    store = LineageStore.from_config(cfg)
    store.ingest_files(cfg.openlineage_log_paths())
    plan = backfill.plan_fixed(store, PARTNER, catalog=catalog)
    assert [(s.partition, s.version) for s in plan.seeds] == [(f"ds={D2}", drops[D2].version)]
    # That date's ingest and what follows it, and the next date's ID-merge, which anchors on it;
    # neither the other dates' ingests nor the fix itself.
    assert sorted((dag, logical[:10], task) for dag, _, logical, tasks in plan.airflow_steps() for task in tasks) == [
        ("user_pipeline", D2, "clean"), ("user_pipeline", D2, "id_merge"), ("user_pipeline", D2, "ingest"),
        ("user_pipeline", D3, "clean"), ("user_pipeline", D3, "id_merge")]

    assert lineage_main(["backfill", "--fixed", PARTNER, "--dry-run", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(dag, logical[:10], tasks) for dag, _, logical, tasks in printed["airflow_steps"]] == [
        ("user_pipeline", D2, ["ingest", "id_merge", "clean"]), ("user_pipeline", D3, ["id_merge", "clean"])]

    # Named by its date, the fixed drop is the version committed that day: the same plan, from the
    # catalog or from the lineage alone (which knows the fix's output as that date's current version).
    for catalog_or_not in (catalog, None):
        by_label = backfill.plan_fixed(store, PARTNER, version=f"ds={D2}", catalog=catalog_or_not)
        assert (by_label.seeds, by_label.task_set()) == (plan.seeds, plan.task_set())
    assert lineage_main(["backfill", "--fixed", f"{PARTNER}@ds={D2}", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["airflow_steps"] == printed["airflow_steps"]
    # The bad drop named as the fixed one has nothing before it: an empty plan that says so.
    assert lineage_main(["backfill", "--fixed", f"{PARTNER}@{drops[D2].version}", "--dry-run"]) == 0
    assert "replaced no version the lineage knows" in capsys.readouterr().out


def test_versions_answer_to_the_labels_users_know(cfg, tmp_path, capsys):
    catalog = Catalog(cfg)
    drops = {day: _commit_drop(catalog, day, _partner_csv(f"Doe, Ann{i}")) for i, day in enumerate((D1, D2, D3))}
    _pipeline_lineage(cfg, drops)
    v1 = _commit_pairs(cfg)
    user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "p.parquet")),
                           "--new-version", "v2"])
    store = LineageStore.from_config(cfg)
    store.ingest_files(cfg.openlineage_log_paths())

    assert [(n.partition, n.version) for n in resolve(store, PAIRS, "v1")] == [("version=v1", v1.version)]
    assert resolve(store, PAIRS, "version=v1") == resolve(store, PAIRS, "v1")
    assert [n.version for n in resolve(store, PARTNER, f"ds={D2}")] == [drops[D2].version]
    assert resolve(store, PARTNER, D2) == resolve(store, PARTNER, f"ds={D2}")
    assert {a.version for a in impact(store, PARTNER, f"ds={D2}").artifacts} >= {"I1", "M1", "M2"}
    assert upstream(store, "staging.users_merged", f"ds={D3}").seeds[0].version == "M2"

    # After the drop of D2 is fixed, its date names two versions: an error listing both.
    corrected = tmp_path / "users_partner.csv"
    corrected.write_bytes(_partner_csv("Doe, Anne"))
    fixed = user_pipeline.fix.run(["--dataset", PARTNER, "--ds", D2, "--file", str(corrected)]).output
    store.ingest_files(cfg.openlineage_log_paths())
    with pytest.raises(LineageLookupError, match="ambiguous") as error:
        resolve(store, PARTNER, f"ds={D2}")
    assert drops[D2].version in str(error.value) and fixed.version in str(error.value)

    html = tmp_path / "impact.html"
    assert lineage_main(["impact", f"{PAIRS}@v1", "--html", str(html), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seeds"][0]["version"] == v1.version and html.stat().st_size > 0
    assert lineage_main(["impact", f"{PARTNER}@ds={D2}"]) == 2
    assert "ambiguous" in capsys.readouterr().err


def test_the_backfill_after_a_fixed_reference_version_starts_where_the_replaced_one_was_read(cfg, tmp_path, capsys):
    """``--fixed reference.id_pairs@v2``: the matcher trained on v1 and the ID-merges that used it
    are planned, ingest and de-spam are left alone."""
    v1 = _commit_pairs(cfg)
    f = EventFactory(start=datetime.now(UTC) - timedelta(hours=1), dag_id="id_matcher")
    m1 = ver("models.id_matcher", "X1")
    events = f.run("user_pipeline.training.id_matcher", "train_id_matcher", D1, [ver(PAIRS, v1.version, "v1")], [m1])
    f.dag_id = "user_pipeline"
    for i, day in enumerate((D1, D2)):
        despammed, merged = ds("staging.users_despammed", day, f"S{i}"), ds("staging.users_merged", day, f"M{i}")
        events += f.run("beam_jobs.ingest", "ingest", day, [ds(PARTNER, day, f"R{i}")],
                        [ds("staging.users_ingested", day, f"I{i}")])
        events += f.run("beam_jobs.despam", "despam", day, [ds("staging.users_ingested", day, f"I{i}")], [despammed])
        events += f.run("beam_jobs.id_merge", "id_merge", day, [despammed, m1], [merged])
    log = Path(cfg.openlineage_client_config()["transport"]["log_file_path"])
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "p.parquet")),
                           "--new-version", "v2"])

    assert lineage_main(["backfill", "--fixed", f"{PAIRS}@v2", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(s["partition"], s["version"]) for s in plan["seeds"]] == [("version=v1", v1.version)]
    assert [(dag, tasks) for dag, _, _, tasks in plan["airflow_steps"]] == [
        ("id_matcher", ["train_id_matcher"]), ("user_pipeline", ["id_merge"]), ("user_pipeline", ["id_merge"])]
    store = LineageStore.from_config(cfg)
    assert backfill.plan_fixed(store, PAIRS, version="v2", catalog=Catalog(cfg)).task_set() == \
        backfill.plan_bad_version(store, PAIRS, "v1").task_set()
    assert lineage_main(["backfill", "--fixed", f"{PAIRS}@v7", "--dry-run"]) == 2
    assert f"{PAIRS} has no version 'v7'" in capsys.readouterr().err


# -- the gate of a raw drop -----------------------------------------------------------------------
@pytest.mark.parametrize(("payload", "reason"), [
    (_partner_csv("Doe, Zoë").replace("ë".encode(), "ë".encode("cp1252")),
     r"users_partner.csv: not utf-8 text: byte 0xeb at line 2 does not decode"),
    (_partner_csv("Doe, Ann", header=PARTNER_FORMAT.columns[:-1]),
     r"users_partner.csv: file header lacks column\(s\) \['NOTES'\] of the partner format"),
    (_partner_csv(), r"no record in 1 file\(s\)"),
])
def test_a_drop_ingest_could_not_read_is_refused_and_nothing_is_committed(cfg, tmp_path, capsys, payload, reason):
    catalog = Catalog(cfg)
    committed = _commit_drop(catalog, D1, _partner_csv("Doe, Ann"))
    bad = tmp_path / "users_partner.csv"
    bad.write_bytes(payload)
    with pytest.raises(StepRefused, match=f"fix not committed: DROP REFUSED .*{reason}"):
        user_pipeline.fix.run(["--dataset", PARTNER, "--ds", D1, "--file", str(bad)])
    assert catalog.manifest(PARTNER, D1).version == committed.version
    assert list(Path(catalog.fs_path(catalog.partition_uri(PARTNER, D1))).glob("run=*")) == [
        Path(catalog.fs_path(catalog.partition_uri(PARTNER, D1))) / committed.files[0].split("/")[0]]
    # The command line: exit code 1, the reason.
    assert user_pipeline.fix.main(["--dataset", PARTNER, "--ds", D1, "--file", str(bad)]) == 1
    assert "DROP REFUSED" in capsys.readouterr().err


def test_a_readable_drop_passes_its_gate(cfg, tmp_path):
    catalog = Catalog(cfg)
    _commit_drop(catalog, D1, _partner_csv("Doe, Ann"))
    good = tmp_path / "users_partner.csv"
    good.write_bytes(b"\xef\xbb\xbf" + _partner_csv("Doe, Zoë", "Roe, Bea").replace(b"\n", b"\r\n"))  # BOM, CRLF
    outcome = user_pipeline.fix.run(["--dataset", PARTNER, "--ds", D1, "--file", str(good)])
    assert "drop readable as ingest reads it: 2 records in 1 file(s), utf-8" in outcome.summary
    assert f"next: lineage backfill --fixed {PARTNER}@ds={D1}" in outcome.summary


# -- the asset event, sent to Airflow's REST API from outside Airflow --------------------------------
class _Airflow:
    """A tiny stand-in for Airflow's api-server (a real HTTP server in a thread) that records every
    request and answers the calls a fix makes; ``events_status`` is what creating an event answers."""

    def __init__(self, events_status: int = 200, assets: list[dict] | None = None):
        self.requests: list[dict] = []
        self.events_status = events_status
        # A substring search, as Airflow's uri_pattern: a longer name matches too, listed first.
        self.assets = assets or [{"id": 8, "name": f"{PAIRS}_old", "uri": "pipeline://reference/id_pairs_old"},
                                 {"id": 7, "name": PAIRS, "uri": "pipeline://reference/id_pairs"}]
        airflow = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> dict:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = {"method": self.command, "path": url.path, "query": parse_qs(url.query),
                           "authorization": self.headers.get("Authorization"),
                           "body": json.loads(self.rfile.read(length)) if length else None}
                airflow.requests.append(request)
                return request

            def do_GET(self):  # noqa: N802 - http.server's name
                request = self._record()
                if request["path"] != "/api/v2/assets":
                    return self._answer(404, {"detail": "Not Found"})
                self._answer(200, {"assets": airflow.assets, "total_entries": len(airflow.assets)})

            def do_POST(self):  # noqa: N802
                request = self._record()
                if request["path"] == "/auth/token":
                    return self._answer(201, {"access_token": "jwt-1"})
                if request["path"] == "/api/v2/assets/events" and airflow.events_status == 200:
                    return self._answer(200, {"id": 42, "asset_id": request["body"]["asset_id"],
                                              "extra": request["body"]["extra"]})
                self._answer(airflow.events_status,
                             {"detail": f"Asset with ID: `{request['body']['asset_id']}` was not found"})

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Airflow:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _fix_pairs_argv(tmp_path: Path) -> list[str]:
    return ["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "p.parquet")), "--new-version", "v2"]


def test_a_fix_run_by_hand_creates_the_asset_event_its_dag_would(cfg, tmp_path, capsys, monkeypatch):
    _commit_pairs(cfg)
    monkeypatch.delenv("AIRFLOW_API_TOKEN", raising=False)
    monkeypatch.setenv("AIRFLOW_API_PASSWORD", "secret")
    with _Airflow() as airflow:
        code = user_pipeline.fix.main([*_fix_pairs_argv(tmp_path), "--airflow-url", airflow.url,
                                       "--airflow-user", "admin"])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"asset event 42 of {PAIRS} version=v2 created in Airflow at {airflow.url}")
    login, lookup, event = airflow.requests
    assert (login["path"], login["body"]) == ("/auth/token", {"username": "admin", "password": "secret"})
    assert (lookup["method"], lookup["path"], lookup["query"]["uri_pattern"], lookup["authorization"]) == (
        "GET", "/api/v2/assets", ["pipeline://reference/id_pairs"], "Bearer jwt-1")
    # The asset whose URI and name are exactly the dataset's, and the extra of the DAG's outlet.
    assert (event["method"], event["path"], event["authorization"]) == ("POST", "/api/v2/assets/events",
                                                                        "Bearer jwt-1")
    assert event["body"] == {"asset_id": 7, "extra": fix_event_extra(cfg, PAIRS, "v2")}


def test_an_asset_event_airflow_refuses_fails_the_command_and_the_commit_stands(cfg, tmp_path, capsys, monkeypatch):
    _commit_pairs(cfg)
    monkeypatch.setenv("AIRFLOW_API_TOKEN", "tok-9")
    with _Airflow(events_status=404) as airflow:
        code = user_pipeline.fix.main([*_fix_pairs_argv(tmp_path), "--airflow-url", airflow.url])
    assert code == 1
    err = capsys.readouterr().err
    assert "ERROR after the commit: Airflow POST /api/v2/assets/events: 404" in err and "was not found" in err
    committed = Catalog(cfg).manifest(PAIRS, "v2")
    assert f"committed {PAIRS}@{committed.version}" in err and "the commit stands" in err
    assert [r["path"] for r in airflow.requests] == ["/api/v2/assets", "/api/v2/assets/events"]
    assert {r["authorization"] for r in airflow.requests} == {"Bearer tok-9"}

    # Without --airflow-url: the same command reuses the commit and says no event was sent, and how.
    assert user_pipeline.fix.main(_fix_pairs_argv(tmp_path)) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"no Airflow asset event sent for {PAIRS} version=v2") and "--airflow-url URL" in last
