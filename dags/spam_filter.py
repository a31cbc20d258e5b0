"""Spam filter training, run when a new version of ``reference.spam_labels`` is committed.

    gate(reference.spam_labels) -> train spam filter -> labeler agreement report
                                                     -> label-noise review candidates

Scheduled on the ``reference.spam_labels`` asset: a task that commits a labels version with
that asset as an outlet (or an asset event posted to the API) triggers it. It trains the
version pinned in ``spam.labels_version``; de-spam in ``user_pipeline`` scores with the model
derived from that same pin, so a label fix becomes live by a reviewed config change, and a
backfill follows the lineage from there.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset

from conf.config import cached_config
from runner.tasks import gate, job

cfg = cached_config()
SPAM_LABELS = Asset(name="reference.spam_labels", uri="pipeline://reference/spam_labels")
version = ("--labels-version", cfg.spam.labels_version)

with DAG(
    dag_id="spam_filter",
    schedule=[SPAM_LABELS],
    start_date=pendulum.parse(cfg.airflow.start_date),
    catchup=False,
    max_active_runs=1,
    tags=["lineage", "labels", "spam"],
    doc_md=__doc__,
) as dag:
    gate_spam_labels = gate(cfg, "reference.spam_labels", "--version", cfg.spam.labels_version)
    train_spam_filter = job(cfg, "training.spam_filter", "train_spam_filter", *version)
    agreement = job(cfg, "labels.agreement", "label_agreement", *version)
    noise = job(cfg, "labels.noise", "label_noise", *version)

    gate_spam_labels >> train_spam_filter >> [agreement, noise]
