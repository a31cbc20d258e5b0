"""What a step is: the one declaration DAGs, runners, tests and benches read (docs/adding-a-step.md).

Declarations are plain data and import nothing heavy: DAG files read them at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One task of a DAG: which job module runs, what it reads and commits, what config it depends on.

    ``job`` is the module run as ``python -m <job>`` in the task's own process and the job's
    OpenLineage name. ``reads``/``writes`` are logical dataset names (``conf/pipeline.yaml``,
    ``datasets:``); the first of ``writes`` is the main output. ``config`` names the config
    sections (dotted paths; ``!path`` excludes a part of a named section) that change what the job
    computes: they are part of its code version, with the source of what the job imports and the
    releases of ``libraries``.
    """

    name: str
    job: str
    dag: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    config: tuple[str, ...] = ()
    # Distributions whose release changes the output (e.g. TFT's analyzers): their versions are
    # part of the code version.
    libraries: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    # The task appends ``<version_flag> <version>`` at run time: the version the DAG's triggering
    # asset event names (a new labels version), else the config key ``version_pin``
    # (user_pipeline.runner.tasks.asset_version).
    version_flag: str | None = None
    version_pin: str | None = None
    # Runs whatever happened upstream (Airflow teardown), e.g. the date's report.
    teardown: bool = False
    # With a dataset the step validates or analyses, passed as --dataset (gates, statistics).
    dataset: str | None = None
    # Datasets whose asset the task emits an event on when it succeeds (a new version of it).
    outlets: tuple[str, ...] = ()
    # What the runner calls exit code 2 of the job: it could not do its work on its input
    # (user_pipeline.steps.harness.StepCouldNotRun), which is neither a pass nor a failed check.
    not_run: str = "could not run"
    # What the job computes with that is slow to import (modules, or ``module:function`` for a
    # library the project imports its own way): a runner that starts the job's process ahead of
    # its task imports these while the task before runs (user_pipeline.runner.warm). Speed only:
    # the job imports what it uses itself either way.
    preload: tuple[str, ...] = ()

    @property
    def main_output(self) -> str | None:
        """The dataset a step is named after in summaries (its first output)."""
        return self.writes[0] if self.writes else None

    def command(self) -> list[str]:
        """The job's arguments this step always passes (besides --ds and the lineage parent)."""
        return [*(["--dataset", self.dataset] if self.dataset else []), *self.args]
