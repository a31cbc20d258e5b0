import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lineage.catalog import Catalog
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels, train_spam_filter
from user_pipeline.datagen import reference
from user_pipeline.labels import fix, noise, review

BASE = "http://127.0.0.1"  # the TestClient's default Host, "testserver", is not one the page answers to


def token(page: str) -> str:
    return re.search(r"name=csrf_token value='([0-9a-f]+)'", page).group(1)


@pytest.fixture
def labelled(cfg):
    commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 600))
    noise.run(["--labels-version", "v1"])
    return cfg


def in_process_fix(started):
    """A trigger that runs the labels fix at once, in process (what the fix DAG's task runs)."""

    def trigger(conf):
        started.append(conf)
        fix.run(["--labels-version", conf["labels_version"], "--new-version", conf["new_version"], "--decisions"])
        return review.CommitRun(conf["new_version"], conf["decisions_version"], "in process", "success")

    return trigger


def test_the_queue_renders_a_form_per_item_with_labels_probability_and_rules(labelled):
    app = review.create_app(labelled, "v1", trigger=in_process_fix([]), reviewer="ann")
    with TestClient(app, base_url=BASE) as client:
        answer = client.get("/")
    assert answer.status_code == 200
    page = answer.text
    data = review.load_review_data(Catalog(labelled), labelled, "v1")
    first = data.queue.iloc[0]
    assert f"id='m-{first.message_id}'" in page and "noise" in first.reasons
    assert page.count("<form method=post action=/review>") == len(data.queue) > 0
    assert f"P(spam) = {first.probability:.3f}" in page
    assert f"labelers' posterior {first.posterior:.3f}" in page
    # The generated labels hold messages only the model of their labelers leaves unsettled.
    unsettled = data.queue[data.queue["reasons"].map(lambda r: r == ("low_posterior",))]
    assert len(unsettled) and (unsettled["posterior"] < 0.9).all()
    assert (data.queue["posterior"].notna()).all()
    assert "fallback class definitions (no label spec committed)" in page
    assert review.FALLBACK_CLASS_RULES["spam"] in page
    assert "out-of-fold probability of the label-noise detector" in page
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_the_probability_is_the_spam_filter_s_once_trained(cfg):
    commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 600))
    model = train_spam_filter(cfg, "v1")
    data = review.load_review_data(Catalog(cfg), cfg, "v1")
    assert data.probability_source == f"models.spam_filter@{model.version}"


def test_a_cross_site_post_is_refused_and_stores_nothing(labelled):
    app = review.create_app(labelled, "v1", trigger=in_process_fix([]))
    with TestClient(app, base_url=BASE) as client:
        page = client.get("/").text
        message_id = re.search(r"name=message_id value='([^']+)'", page).group(1)
        form = {"message_id": message_id, "label": "spam", "reviewer": "eve"}
        assert client.post("/review", data=form, follow_redirects=False).status_code == 403  # no token
        assert client.post("/review", data={**form, "csrf_token": token(page)},
                           headers={"origin": "https://evil.example"}).status_code == 403
        client.cookies.clear()  # the token of another session
        assert client.post("/review", data={**form, "csrf_token": token(page)}).status_code == 403
    with TestClient(app, base_url="http://evil.example") as client:
        assert client.get("/").status_code == 403
    assert Catalog(labelled).manifest(review.DECISIONS, "v1") is None


def test_reviews_are_stored_with_reviewer_and_time_and_commit_makes_a_new_labels_version(labelled):
    started = []
    app = review.create_app(labelled, "v1", trigger=in_process_fix(started))
    catalog = Catalog(labelled)
    data = review.load_review_data(catalog, labelled, "v1")
    first, second = data.queue.iloc[0], data.queue.iloc[1]
    with TestClient(app, base_url=BASE) as client:
        page = client.get("/").text
        for item, label in ((first, first.suggested_label), (second, "ham"), (first, first.suggested_label)):
            answer = client.post("/review", data={"csrf_token": token(page), "message_id": item.message_id,
                                                  "label": label, "reviewer": "ann", "note": "checked"},
                                 headers={"origin": BASE}, follow_redirects=False)
            assert answer.status_code == 303, answer.text
        decisions = catalog.read_table(review.DECISIONS, "v1").to_pandas()
        assert decisions["message_id"].tolist() == [first.message_id, second.message_id, first.message_id]
        assert set(decisions["reviewer"]) == {"ann"} and decisions["reviewed_at"].notna().all()
        decided = catalog.require(review.DECISIONS, "v1")
        assert "2 message(s) decided" in client.get("/").text
        answer = client.post("/commit", data={"csrf_token": token(page), "new_version": "v2"})
        assert answer.status_code == 200 and "id=new-version" in answer.text
    assert started == [{"new_version": "v2", "labels_version": "v1", "decisions_version": decided.version}]
    labels = catalog.require("reference.spam_labels", "v2")
    assert {"dataset": review.DECISIONS, "partition": "version=v1", "version": decided.version} in [
        {k: i[k] for k in ("dataset", "partition", "version")} for i in labels.inputs]
    corrections = catalog.read_table("reference.spam_label_corrections", "v2").to_pandas()
    assert set(corrections["message_id"]) <= {first.message_id, second.message_id}
    assert (corrections.loc[corrections["message_id"] == first.message_id, "new_label"] == first.suggested_label).all()
    assert set(corrections["decided_by"]) == {f"review-page:{decided.version}"}
    assert set(corrections["reviewer"]) == {"ann"}
    # The lineage: the fix run read the decisions version and wrote the labels version.
    (log,) = labelled.openlineage_log_paths()
    events = [json.loads(line) for line in Path(log).read_text().splitlines()]
    (done,) = [e for e in events if e["job"]["name"] == fix.NAME and e["eventType"] == "COMPLETE"]
    inputs = {(i["name"], i["facets"]["version"]["datasetVersion"]) for i in done["inputs"]}
    assert (review.DECISIONS, decided.version) in inputs
    assert ("reference.spam_labels", labels.version) in {
        (o["name"], o["facets"]["version"]["datasetVersion"]) for o in done["outputs"]}


def test_commit_without_decisions_or_to_an_existing_version_is_refused(labelled):
    started = []
    app = review.create_app(labelled, "v1", trigger=in_process_fix(started))
    with TestClient(app, base_url=BASE) as client:
        page = client.get("/").text
        answer = client.post("/commit", data={"csrf_token": token(page), "new_version": "v2"})
        assert answer.status_code == 400 and "no decisions to commit" in answer.text
    assert started == []
