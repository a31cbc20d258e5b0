"""The review page of a labels version: a queue of items to review, decisions as a dataset, and
"commit", which makes them a new labels version through the labels fix and retrains the spam filter.

    python -m user_pipeline.labels.review [--labels-version v1] [--host 127.0.0.1] [--port 5010]
        [--reviewer NAME] [--airflow-url http://host:8080] [--config ...]

The queue (``transforms.labels.review_queue``): label-noise candidates (the committed
``reference.spam_label_reviews`` of the version, else ``user_pipeline.labels.noise.detect``),
messages whose labelers disagree, messages the labelers' model (Dawid–Skene,
``transforms.labels.labelers``) leaves unsettled (posterior of their resolved label below 0.9),
and messages the model doubts; each with its text, every labeler's label, that posterior, the
model's P(spam) (the spam filter trained on this version if it is committed,
else the detector's out-of-fold probability) and the classes' rules (the label spec, else the
fallback ``FALLBACK_CLASS_RULES``).

A decision (a form post: the label, the reviewer, a note) is appended to
``reference.spam_label_decisions`` version=<labels version> and committed through the catalog at
once: each decision makes a new content version of that partition, with who and when.

"Commit" runs the ``spam_labels_fix`` DAG with ``{"decisions": true}`` (``user_pipeline.labels.fix
--decisions``): the fix reads the decisions version as an input, commits the new labels version
and emits its asset event, on which the ``spam_filter`` DAG trains a candidate on the new
version. Without ``--airflow-url`` the DAG runs on the embedded runner (``python -m
user_pipeline.runner.local --trigger spam_labels_fix``, which also runs what the event queued);
with it, through Airflow's REST API (token in ``$AIRFLOW_API_TOKEN``).

Security (docs/threat-model.md): the page answers only to the ``Host`` names of
``lineage.serve.allowed_hosts``; a POST needs the form's CSRF token, bound to the browser's
session cookie (``HttpOnly``, ``SameSite=Strict``), and a browser ``Origin``, if sent, in
``lineage.serve.allowed_origins``: a cross-site post gets 403 and stores nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from lineage.catalog import Catalog, Manifest, Producer
from lineage.service.writes import host_name
from transforms.labels import CLASSES, LabelError, normalise_labels
from transforms.labels.labelers import dawid_skene
from transforms.labels.review_queue import MARGIN, MIN_POSTERIOR, latest_decisions, review_queue
from transforms.schema import DECISIONS as DECISIONS_SCHEMA
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.labels.common import LABELS
from user_pipeline.labels.fix import DECISIONS
from user_pipeline.labels.noise import REVIEWS
from user_pipeline.steps.models import SPAM_FILTER, load_model_file, model_file_uri
from user_pipeline.steps.registry import LABELS_FIX

NAME = "user_pipeline.labels.review"
SPEC = "reference.spam_label_spec"
SESSION_COOKIE = "review_session"
log = logging.getLogger(NAME)

# FALLBACK only: shown when no label spec (``reference.spam_label_spec``) is committed on the data
# root. The spec is the source of the labeling rules; this is not a second one.
FALLBACK_CLASS_RULES = {
    "ham": "A message a person sends for its own sake: personal, transactional or informational.",
    "spam": "An unsolicited message sent in bulk to sell, lure or defraud the recipient.",
}


# -- what the page shows ---------------------------------------------------------------------------
@dataclass
class ReviewData:
    """The labels version under review, its queue and where the numbers come from."""

    labels_version: str
    labels: pd.DataFrame
    queue: pd.DataFrame
    probability_source: str
    rules: dict[str, str]
    rules_source: str


def model_probability(catalog: Catalog, cfg: PipelineConfig, labels_manifest: Manifest,
                      labels: pd.DataFrame) -> tuple[pd.Series, str]:
    """P(spam) per message: the spam filter trained on this labels version if committed, else the
    label-noise detector's out-of-fold probability (which never scores a message with a model that
    saw it)."""
    from transforms.labels import resolve_labels

    resolved = resolve_labels(labels)
    model = catalog.manifest(SPAM_FILTER.dataset, SPAM_FILTER.version(cfg, labels_manifest.ref))
    if model is not None:
        from transforms.spam import text_scores

        scores = text_scores(load_model_file(model_file_uri(catalog, model)), resolved["text"])
        return pd.Series(scores, index=resolved["message_id"].to_numpy()), f"{model.dataset}@{model.version}"
    from user_pipeline.training.spam_filter import cross_validated_probability

    scores = cross_validated_probability(resolved["text"], resolved["label"], cfg)
    return (pd.Series(scores, index=resolved["message_id"].to_numpy()),
            "out-of-fold probability of the label-noise detector (no spam filter committed for this version)")


def class_rules(catalog: Catalog, cfg: PipelineConfig, labels: pd.DataFrame) -> tuple[dict[str, str], str]:
    """Per class, the label spec's definition and rules (the spec version the labels name, else
    the one committed last), or the fallback constant when no spec is committed."""
    if SPEC in cfg.datasets and catalog.committed(SPEC):
        named = sorted(set(labels["spec_version"].dropna())) if "spec_version" in labels.columns else []
        committed = catalog.committed(SPEC)
        version = named[-1] if named and named[-1] in committed else max(
            committed, key=lambda v: catalog.require(SPEC, v).committed_at)
        spec = catalog.read_table(SPEC, version).to_pandas()
        items = spec[spec["kind"].isin(["definition", "rule"])]
        rules = {c: " ".join(items.loc[items["label"] == c, "text"]) for c in CLASSES}
        return rules, f"{SPEC}@{version}"
    return dict(FALLBACK_CLASS_RULES), "fallback class definitions (no label spec committed)"


def load_review_data(catalog: Catalog, cfg: PipelineConfig, labels_version: str,
                     margin: float = MARGIN, limit: int = 200, min_posterior: float = MIN_POSTERIOR) -> ReviewData:
    """Read the labels version, its noise candidates, the model's probabilities and the labelers'
    model's posteriors; build the queue."""
    from user_pipeline.training.spam_filter import load_labels

    manifest, labels = load_labels(catalog, labels_version)
    if catalog.manifest(REVIEWS, labels_version) is not None:
        candidates = catalog.read_table(REVIEWS, labels_version).to_pandas()
    else:
        from user_pipeline.labels.noise import detect

        candidates = detect(labels, cfg)[0].to_pandas()
    probability, source = model_probability(catalog, cfg, manifest, labels)
    rules, rules_source = class_rules(catalog, cfg, labels)
    posterior = dawid_skene(labels).messages.set_index("message_id")["confidence"]
    queue = review_queue(labels, candidates, probability, margin=margin, limit=limit, posterior=posterior,
                         min_posterior=min_posterior)
    return ReviewData(labels_version, labels, queue, source, rules, rules_source)


# -- decisions ---------------------------------------------------------------------------------
def read_decisions(catalog: Catalog, labels_version: str) -> tuple[pd.DataFrame, Manifest | None]:
    """Every decision recorded for a labels version, and the manifest of that decisions version."""
    manifest = catalog.manifest(DECISIONS, labels_version)
    if manifest is None:
        return DECISIONS_SCHEMA.empty_table().to_pandas(), None
    return catalog.read_table(DECISIONS, labels_version).to_pandas(), manifest


def record_decision(catalog: Catalog, labels: pd.DataFrame, labels_manifest: Manifest, message_id: str,
                    label: str, reviewer: str, note: str, now: datetime | None = None) -> Manifest:
    """Append one decision and commit the decisions of the labels version as a new content version;
    LabelError (nothing stored) for an unknown message, a label that is not a class, no reviewer."""
    if message_id not in set(labels["message_id"]):
        raise LabelError(f"message {message_id!r} is not in {LABELS} version={labels_manifest.ref.value}")
    (chosen,) = normalise_labels(pd.Series([label]), "label")
    if not reviewer.strip():
        raise LabelError("a decision needs a reviewer")
    previous, _ = read_decisions(catalog, labels_manifest.ref.value)
    row = pd.DataFrame({"message_id": [message_id], "label": [chosen], "reviewer": [reviewer.strip()[:200]],
                        "reviewed_at": [now or datetime.now(UTC)], "note": [note.strip()[:2000] or None]})
    frame = pd.concat([previous, row], ignore_index=True) if len(previous) else row
    table = pa.Table.from_pandas(frame, schema=DECISIONS_SCHEMA, preserve_index=False)
    return catalog.write_table(DECISIONS, labels_manifest.ref.value, table,
                               producer=Producer(NAME, str(uuid.uuid4())), inputs=[labels_manifest.ref],
                               code_version="review-page",
                               extra={"decisions": len(frame), "messages": int(frame["message_id"].nunique())})


# -- commit: run the labels fix and let its asset event retrain ---------------------------------
@dataclass
class CommitRun:
    """One "commit" of the decisions: the DAG run started and how it went."""

    new_version: str
    decisions_version: str
    how: str
    state: str = "running"
    log: list[str] = field(default_factory=list)


def embedded_trigger(cfg: PipelineConfig, log_dir: Path) -> Callable[[dict], CommitRun]:
    """Run the fix DAG on the embedded runner in a background process (then what its event queued)."""

    def trigger(conf: dict) -> CommitRun:
        run = CommitRun(conf["new_version"], conf["decisions_version"], "embedded runner")
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"commit_{conf['new_version']}.log"
        command = [sys.executable, "-m", "user_pipeline.runner.local", "--config", cfg.source_path,
                   "--trigger", LABELS_FIX, "--conf", json.dumps(fix_conf(conf))]
        run.log.append(" ".join(command))

        def wait() -> None:
            with open(log_path, "w") as out:
                code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                                      env={**os.environ, "PIPELINE_DATA_ROOT": cfg.data_root}).returncode
            run.log.append(log_path.read_text()[-4000:])
            run.state = "success" if code == 0 else f"failed (exit {code})"

        threading.Thread(target=wait, daemon=True).start()
        return run

    return trigger


def airflow_trigger(url: str, token: str | None) -> Callable[[dict], CommitRun]:
    """Start the fix DAG through Airflow's REST API (v2); the scheduler runs what its event queues."""

    def trigger(conf: dict) -> CommitRun:
        from user_pipeline.airflow_api import AirflowApi, AirflowApiError

        run = CommitRun(conf["new_version"], conf["decisions_version"], f"Airflow {url}")
        try:
            with AirflowApi(url, token=token) as api:
                run.state = f"queued as {api.trigger(LABELS_FIX, None, fix_conf(conf))}"
        except AirflowApiError as exc:
            run.state = f"failed ({exc.status or 'no answer'})"
            run.log.append(str(exc)[:2000])
        return run

    return trigger


def fix_conf(conf: dict) -> dict:
    """The ``spam_labels_fix`` DAG's conf of a commit."""
    return {"new_version": conf["new_version"], "labels_version": conf["labels_version"], "decisions": True}


# -- the app ---------------------------------------------------------------------------------
def create_app(cfg: PipelineConfig, labels_version: str, *, trigger: Callable[[dict], CommitRun],
               reviewer: str = "", margin: float = MARGIN, limit: int = 200,
               allowed_hosts: Sequence[str] | None = None, allowed_origins: Sequence[str] | None = None) -> Starlette:
    """The review page of ``labels_version`` (module docstring). ``trigger`` starts the fix DAG."""
    catalog = Catalog(cfg)
    data = load_review_data(catalog, cfg, labels_version, margin=margin, limit=limit)
    labels_manifest = catalog.require(LABELS, labels_version)
    hosts = frozenset(host_name(h) for h in (allowed_hosts or cfg.lineage.serve.allowed_hosts))
    origins = frozenset(host_name(h) for h in (allowed_origins or cfg.lineage.serve.allowed_origins))
    secret = secrets.token_bytes(32)  # per process: a restart invalidates old forms, nothing else
    commits: list[CommitRun] = []

    def csrf_token(session: str) -> str:
        return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()

    def refused(request: Request) -> Response | None:
        name = host_name(request.headers.get("host", ""))
        if "*" not in hosts and name not in hosts:
            return HTMLResponse(f"Host {html.escape(name)!s} is not one this page answers to", status_code=403)
        return None

    async def checked_form(request: Request) -> tuple[dict, Response | None]:
        """The posted form once Host, Origin and CSRF token pass; else the 403 to answer."""
        if (answer := refused(request)) is not None:
            return {}, answer
        origin = request.headers.get("origin")
        if origin is not None and "*" not in origins:
            authority = origin.split("://", 1)[1] if "://" in origin else ""
            if not authority or host_name(authority) not in origins:
                return {}, HTMLResponse("posts from this web origin are not allowed", status_code=403)
        form = dict(await request.form())
        session = request.cookies.get(SESSION_COOKIE, "")
        token = str(form.get("csrf_token", ""))
        if not session or not hmac.compare_digest(token, csrf_token(session)):
            return {}, HTMLResponse("missing or wrong form token (reload the page)", status_code=403)
        return form, None

    def page(request: Request, body: str, status: int = 200) -> HTMLResponse:
        session = request.cookies.get(SESSION_COOKIE) or secrets.token_urlsafe(32)
        text = body.replace("{{csrf}}", csrf_token(session))
        response = HTMLResponse(_layout(labels_version, text), status_code=status)
        if request.cookies.get(SESSION_COOKIE) != session:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", path="/")
        return response

    async def queue_page(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        decisions, decided = read_decisions(catalog, labels_version)
        name = request.cookies.get("reviewer") or reviewer
        return page(request, _queue_html(data, latest_decisions(decisions), decided, name, commits))

    async def review(request: Request) -> Response:
        form, answer = await checked_form(request)
        if answer is not None:
            return answer
        try:
            # Synchronous on the event loop on purpose: decisions are read, appended and committed
            # one at a time, so two reviewers of this process never lose each other's decision.
            record_decision(catalog, data.labels, labels_manifest, str(form.get("message_id", "")),
                            str(form.get("label", "")), str(form.get("reviewer", "")), str(form.get("note", "")))
        except LabelError as exc:
            return page(request, f"<p class=error>{html.escape(str(exc))}</p><p><a href='/'>back</a></p>", 400)
        response = RedirectResponse(f"/#m-{form['message_id']}", status_code=303)
        response.set_cookie("reviewer", str(form["reviewer"]).strip()[:200], httponly=True, samesite="strict")
        return response

    async def commit(request: Request) -> Response:
        form, answer = await checked_form(request)
        if answer is not None:
            return answer
        new_version = str(form.get("new_version", "")).strip()
        _, decided = read_decisions(catalog, labels_version)
        problem = ("no decisions to commit" if decided is None else "give the new version's id" if not new_version
                   else "the new version must differ from the reviewed one" if new_version == labels_version
                   else f"{LABELS} version={new_version} exists" if catalog.manifest(LABELS, new_version) else "")
        if problem:
            return page(request, f"<p class=error>{html.escape(problem)}</p><p><a href='/'>back</a></p>", 400)
        commits.append(trigger({"new_version": new_version, "labels_version": labels_version,
                                "decisions_version": decided.version}))
        return RedirectResponse("/status", status_code=303)

    async def status(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        return page(request, _status_html(catalog, cfg, commits))

    return Starlette(routes=[Route("/", queue_page), Route("/review", review, methods=["POST"]),
                             Route("/commit", commit, methods=["POST"]), Route("/status", status)])


# -- HTML (server-rendered, no script) --------------------------------------------------------
def _layout(version: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>review {html.escape(version)}</title>"
            "<style>body{font-family:sans-serif;max-width:70em;margin:auto}.item{border:1px solid #ccc;"
            "padding:.5em;margin:.5em 0}.error{color:#b00}.reasons{color:#555}</style></head>"
            f"<body><h1>Review {html.escape(LABELS)} version={html.escape(version)}</h1>{body}</body></html>")


def _queue_html(data: ReviewData, decided: pd.DataFrame, decisions: Manifest | None, reviewer: str,
                commits: list[CommitRun]) -> str:
    esc = html.escape
    chosen = decided.set_index("message_id")["label"].to_dict() if len(decided) else {}
    rules = "".join(f"<dt>{esc(c)}</dt><dd>{esc(t)}</dd>" for c, t in data.rules.items())
    parts = [f"<p>Model probability: {esc(data.probability_source)}. Class rules: {esc(data.rules_source)}.</p>",
             f"<dl id=rules>{rules}</dl>",
             f"<p id=decisions>{len(chosen)} message(s) decided"
             + (f" ({DECISIONS}@{esc(decisions.version)})" if decisions else "") + ". "
             + (f"<a href='/status'>{len(commits)} commit(s)</a>" if commits else "") + "</p>",
             "<form method=post action=/commit id=commit><input type=hidden name=csrf_token value='{{csrf}}'>"
             "<label>new labels version <input name=new_version required></label> "
             "<button type=submit>Commit reviews</button></form>",
             f"<h2>Queue ({len(data.queue)})</h2>"]
    for item in data.queue.itertuples():
        lean = "spam" if item.probability >= 0.5 else "ham"
        given = ", ".join(f"{esc(k)}: <b>{esc(v)}</b>" for k, v in sorted(item.labels.items()))
        options = "".join(f"<label><input type=radio name=label value={c} required"
                          f"{' checked' if chosen.get(item.message_id) == c else ''}> {c}</label> " for c in CLASSES)
        done = (f" <span class=decided>decided: {esc(chosen[item.message_id])}</span>"
                if item.message_id in chosen else "")
        parts.append(
            f"<div class=item id='m-{esc(item.message_id)}'><p><code>{esc(item.message_id)}</code>{done} "
            f"<span class=reasons>{esc(', '.join(item.reasons))}</span></p><blockquote>{esc(item.text)}</blockquote>"
            f"<p>labels: {given}; labelers' posterior {item.posterior:.3f}; P(spam) = {item.probability:.3f}"
            + (f"; suggested: {esc(item.suggested_label)}" if item.suggested_label is not None else "") + "</p>"
            f"<p class=rule>rule for {lean}: {esc(data.rules.get(lean, ''))}</p>"
            "<form method=post action=/review><input type=hidden name=csrf_token value='{{csrf}}'>"
            f"<input type=hidden name=message_id value='{esc(item.message_id)}'>{options}"
            f"<label>reviewer <input name=reviewer required value='{esc(reviewer)}'></label> "
            "<label>note <input name=note></label> <button type=submit>Save review</button></form></div>")
    return "".join(parts)


def _status_html(catalog: Catalog, cfg: PipelineConfig, commits: list[CommitRun]) -> str:
    esc = html.escape
    parts = ["<p><a href='/'>back to the queue</a></p>"]
    for run in reversed(commits):
        parts.append(f"<div class=item><h2>{esc(LABELS)} version={esc(run.new_version)}</h2>"
                     f"<p>from {esc(DECISIONS)}@{esc(run.decisions_version)}; {esc(run.how)}: "
                     f"<span class=state>{esc(run.state)}</span></p>")
        labels = catalog.manifest(LABELS, run.new_version)
        if labels is not None:
            inputs = ", ".join(f"{i['dataset']}@{i['version']}" for i in labels.inputs)
            parts.append(f"<p id=new-version>committed {esc(labels.dataset)}@{esc(labels.version)}; "
                         f"inputs: {esc(inputs)}</p>")
            model = catalog.manifest(SPAM_FILTER.dataset, SPAM_FILTER.version(cfg, labels.ref))
            if model is not None:
                f1 = model.extra.get("holdout_metrics", {}).get("f1")
                parts.append(f"<p id=retrained>train_spam_filter: {esc(model.dataset)}@{esc(model.version)} "
                             f"trained on labels version {esc(str(model.extra.get('labels_version')))}"
                             + (f", held-out F1 {f1:.3f}" if isinstance(f1, float) else "") + "</p>")
        parts.append("".join(f"<pre>{esc(line)}</pre>" for line in run.log) + "</div>")
    return "".join(parts) if commits else parts[0] + "<p>nothing committed yet</p>"


def main(argv: list[str] | None = None) -> int:
    """Serve the review page with uvicorn until interrupted."""
    import getpass

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config")
    parser.add_argument("--labels-version", help="the labels to review (default: spam.labels_version)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5010)
    parser.add_argument("--reviewer", default=getpass.getuser(), help="the reviewer name the forms start with")
    parser.add_argument("--airflow-url", help="commit through a running Airflow's REST API "
                                              "(token: $AIRFLOW_API_TOKEN); default: the embedded runner")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    version = args.labels_version or cfg.spam.labels_version
    catalog_root = Path(cfg.data_root) if "://" not in cfg.data_root else Path.home() / ".user_pipeline"
    trigger = (airflow_trigger(args.airflow_url, os.environ.get("AIRFLOW_API_TOKEN")) if args.airflow_url
               else embedded_trigger(cfg, catalog_root / "reports" / "labels"))
    hosts = [*cfg.lineage.serve.allowed_hosts, *([args.host] if args.host not in ("0.0.0.0", "::") else [])]
    app = create_app(cfg, version, trigger=trigger, reviewer=args.reviewer, allowed_hosts=hosts)
    print(f"review page of {LABELS} version={version}: http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
