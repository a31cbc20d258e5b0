"""Every step of every DAG, declared once (docs/adding-a-step.md).

The DAG files build their tasks from here, the embedded runner and the end-to-end tests read the
datasets each step writes from here, and each job's harness reads its config sections from here.
Order within a DAG is the order of the declarations; ``after`` gives the edges.
"""

from __future__ import annotations

from user_pipeline.steps.declare import Step

DAILY = "user_pipeline"  # the daily DAG's id is cfg.airflow.dag_id; steps name it by this key
SPAM_FILTER = "spam_filter"
ID_MATCHER = "id_matcher"
LABELS_FIX = "spam_labels_fix"
# The fix of an upstream dataset (user_pipeline.fix): one job, one hand-triggered DAG per dataset.
FIX_JOB = "user_pipeline.fix"
FIX_JOBS = (FIX_JOB, "user_pipeline.labels.fix")
RAW_USERS = ("raw.users_web", "raw.users_mobile", "raw.users_partner")
# Step.preload of the jobs: what each computes with that is slow to import.
GX = ("expectations.checks:gx",)
BEAM = ("beam_jobs.common",)
TENSORFLOW = ("user_pipeline.training.predict",)
PLOTS = ("matplotlib.pyplot",)


def gate(dataset: str, dag: str = DAILY, after: tuple[str, ...] = (), **kwargs) -> Step:
    """The Great Expectations gate of one dataset: a failed critical check fails the task."""
    return Step(f"gate_{dataset.split('.', 1)[1]}", "expectations.gate", dag, reads=(dataset,), config=("gates",),
                after=after, dataset=dataset, not_run="could not validate", preload=GX, **kwargs)


STEPS: tuple[Step, ...] = (
    # -- the daily pipeline ------------------------------------------------------------------
    Step("ingest", "beam_jobs.ingest", DAILY, reads=RAW_USERS,
         writes=("staging.users_ingested", "staging.ingest_dead_letter"), config=("beam.batch_size",), preload=BEAM),
    gate("staging.users_ingested", after=("ingest",)),
    gate("raw.job_outcomes"),
    # De-spam and ID-merge score with the models derived from the pinned reference versions
    # (spam.labels_version, id_merge.pairs_version), trained by the spam_filter and id_matcher DAGs.
    Step("despam", "beam_jobs.despam", DAILY, reads=("staging.users_ingested", "models.spam_filter"),
         writes=("staging.users_despammed", "staging.spam_quarantine"),
         config=("spam.threshold", "spam.signal_weights", "spam.signals"), after=("gate_users_ingested",),
         preload=BEAM),
    gate("staging.users_despammed", after=("despam",)),
    Step("id_merge", "beam_jobs.id_merge", DAILY,
         reads=("staging.users_despammed", "models.id_matcher", "staging.users_merged", "staging.id_map"),
         writes=("staging.users_merged", "staging.id_map"),
         config=("id_merge", "!id_merge.model", "!id_merge.pairs_version"), after=("gate_users_despammed",),
         preload=BEAM),
    gate("staging.users_merged", after=("id_merge",)),
    Step("clean", "beam_jobs.clean", DAILY, reads=("staging.users_merged",), writes=("curated.users_clean",),
         config=("clean",), after=("gate_users_merged",), preload=BEAM),
    gate("curated.users_clean", after=("clean",)),
    Step("statistics_users_clean", "beam_jobs.statistics", DAILY, reads=("curated.users_clean",),
         writes=("stats.users_clean",), config=("statistics", "drift"), after=("gate_users_clean",),
         dataset="curated.users_clean", preload=("transforms.statistics", *PLOTS)),
    Step("preprocess", "beam_jobs.preprocess", DAILY,
         reads=("curated.users_clean", "raw.job_outcomes", "features.split_assignments"),
         writes=("features.users_transformed", "models.transform_fn", "features.split_assignments"),
         config=("preprocess",), libraries=("tensorflow-transform",),
         after=("statistics_users_clean", "gate_job_outcomes"), preload=("tensorflow_transform.beam",)),
    gate("features.users_transformed", after=("preprocess",)),
    Step("train", "user_pipeline.training.train", DAILY,
         reads=("features.users_transformed", "models.transform_fn"), writes=("models.job_seeker",),
         config=("train",), after=("gate_users_transformed",),
         preload=("user_pipeline.training.model", "sklearn.metrics")),
    Step("evaluate", "user_pipeline.training.evaluate", DAILY,
         reads=("models.job_seeker", "features.users_transformed", "curated.users_clean"),
         writes=("evaluation.job_seeker_slices",), config=("evaluation",), after=("train",),
         preload=(*TENSORFLOW, *PLOTS)),
    Step("training_serving_skew", "user_pipeline.training.skew", DAILY,
         reads=("features.users_transformed", "curated.users_clean"), config=("drift", "statistics.num_buckets"),
         after=("train",), preload=(*TENSORFLOW, *PLOTS)),
    Step("run_report", "user_pipeline.reports.run_report", DAILY, after=("evaluate", "training_serving_skew"),
         teardown=True, preload=PLOTS),
    # -- a new labels version: gate, train the spam filter, label reports ---------------------
    gate("reference.spam_labels", dag=SPAM_FILTER, version_flag="--version", version_pin="spam.labels_version"),
    Step("train_spam_filter", "user_pipeline.training.spam_filter", SPAM_FILTER,
         reads=("reference.spam_labels",), writes=("models.spam_filter",), config=("spam.model",),
         after=("gate_spam_labels",), version_flag="--labels-version", version_pin="spam.labels_version"),
    Step("label_agreement", "user_pipeline.labels.agreement", SPAM_FILTER,
         reads=("reference.spam_labels", "reference.spam_label_spec"),
         writes=("reference.spam_label_agreement",), config=("spam.min_agreement",),
         after=("train_spam_filter",), version_flag="--labels-version", version_pin="spam.labels_version"),
    Step("label_noise", "user_pipeline.labels.noise", SPAM_FILTER, reads=("reference.spam_labels",),
         writes=("reference.spam_label_reviews",), config=("spam.model", "spam.cv_folds"), after=("train_spam_filter",),
         version_flag="--labels-version", version_pin="spam.labels_version"),
    # -- a reviewed fix of the labels, triggered by hand: its asset event starts spam_filter ----
    Step("fix_spam_labels", "user_pipeline.labels.fix", LABELS_FIX,
         reads=("reference.spam_labels", "reference.spam_label_reviews"),
         writes=("reference.spam_labels", "reference.spam_label_corrections"), outlets=("reference.spam_labels",)),
    # -- a new pairs version: gate, train the ID matcher --------------------------------------
    gate("reference.id_pairs", dag=ID_MATCHER, version_flag="--version", version_pin="id_merge.pairs_version"),
    Step("train_id_matcher", "user_pipeline.training.id_matcher", ID_MATCHER, reads=("reference.id_pairs",),
         writes=("models.id_matcher",), config=("id_merge.model",), after=("gate_id_pairs",),
         version_flag="--pairs-version", version_pin="id_merge.pairs_version"),
)




def upstream_datasets() -> list[str]:
    """The datasets the pipeline reads and no step of it computes: raw drops and reference data,
    committed from outside. These are what a fix (``user_pipeline.fix``) commits corrected
    versions of."""
    computed = {d for s in STEPS for d in s.writes if s.job not in FIX_JOBS}
    return sorted({d for s in STEPS for d in s.reads} - computed)


def fix_dag(dataset: str) -> str:
    """The id of the hand-triggered DAG that commits a fix of ``dataset`` (``fix_raw_users_partner``)."""
    return "fix_" + dataset.replace(".", "_")


# One fix step per upstream dataset, each in its own DAG: its task's outlet is that dataset's
# asset, so the DAGs scheduled on it (spam_filter, id_matcher) run on the version it commits.
STEPS += tuple(Step("fix", FIX_JOB, fix_dag(d), reads=(d,), writes=(d,), outlets=(d,), dataset=d)
               for d in upstream_datasets())


# Steps declared outside this file (a deployment's own DAG): see ``register``.
_REGISTERED: list[Step] = []


def register(*declared: Step) -> tuple[Step, ...]:
    """Add steps declared elsewhere, e.g. in a deployment's own package: the module that declares
    them is imported by its DAG file and by its job module, so both see the same declaration.
    Registering the same declaration again is a no-op; another step of the same name is an error."""
    for new in declared:
        same = [s for s in (*STEPS, *_REGISTERED) if (s.dag, s.name) == (new.dag, new.name)]
        if same and same[0] != new:
            raise ValueError(f"step {new.name!r} of DAG {new.dag!r} is declared twice: {same[0]} and {new}")
        if not same:
            _REGISTERED.append(new)
    return declared


def steps(dag: str | None = None) -> list[Step]:
    """The declared steps, of one DAG or of all, in declaration order."""
    return [s for s in (*STEPS, *_REGISTERED) if dag is None or s.dag == dag]


def step(name: str, dag: str = DAILY) -> Step:
    """The step of ``dag`` named ``name`` (its task id)."""
    for s in steps():
        if s.name == name and s.dag == dag:
            return s
    raise KeyError(f"no step {name!r} in DAG {dag!r}: declared are {[s.name for s in steps(dag)]}")


def steps_of_job(job: str) -> list[Step]:
    """Every step that runs the job module ``job`` (a gate module runs as several steps)."""
    found = [s for s in steps() if s.job == job]
    if not found:
        raise KeyError(f"no step runs {job!r}: declare it in user_pipeline/steps/registry.py")
    return found


def writer_of(dataset: str) -> Step:
    """The step that computes ``dataset`` (fixes of upstream datasets aside: ``upstream_datasets``)."""
    fixed = dataset in upstream_datasets()
    found = [s for s in steps() if dataset in s.writes and not (fixed and s.job in FIX_JOBS)]
    if len(found) != 1:
        raise KeyError(f"{dataset!r} is written by {[s.name for s in found] or 'no step'}")
    return found[0]
