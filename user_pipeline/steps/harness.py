"""The one harness every job runs in (docs/adding-a-step.md).

A job module supplies only what is its own: how it computes (``compute``), and where that differs
from the declaration, what it reads and writes for a run (``plan``). The harness does the rest,
the same way for every step:

- the command line: ``--ds``, ``--config``, ``--force``, the lineage parent set by the Airflow
  task, the job's own arguments; everything else is a Beam pipeline option;
- the configuration, loaded once, and the catalog;
- the code version (``user_pipeline.steps.code``: the sources the job imports and its config
  sections from the registry);
- the lineage run (START with the input versions, COMPLETE with the outputs or FAIL);
- the content-addressed skip: when every output was committed from exactly these input versions
  by this code version, nothing is recomputed (``--force`` recomputes);
- staging and the atomic commit, through ``StepContext`` (a step's outputs in one commit:
  ``publish_together``);
- the task's return value: the last line printed (a summary of what was committed or reused);
  exit code 1 when the step refuses (a failed gate, a failing drift), 2 when it could not do its
  work on its input (an input is missing; a gate could not validate).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lineage.catalog import Catalog, Manifest, PartitionRef, Producer, StagedPartition
from lineage.emit import LineageEmitter, ParentRun, StepRun, step_run
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.steps import registry
from user_pipeline.steps.code import step_code_version
from user_pipeline.steps.declare import Step
from user_pipeline.steps.logs import configure_job_logging


class StepRefused(Exception):
    """The step ran and says no (a failed gate, a drift above a failure threshold): exit code 1,
    the message on stderr (an Airflow task's error is the tail of its stderr)."""


class StepCouldNotRun(Exception):
    """The step could not do its work on its input, so it says neither yes nor no (a gate that
    could not validate a partition): exit code 2, like a missing input, the message on stderr."""


@dataclass
class Plan:
    """What one run reads (lineage inputs, in order) and which partitions it commits."""

    inputs: list[Manifest]
    outputs: list[tuple[str, str]]
    # Anything the plan worked out that compute needs too (models, prior state, a derived version).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def refs(self) -> list[PartitionRef]:
        return [m.ref for m in self.inputs]


@dataclass
class StepContext:
    """One run of a step: its arguments, config, catalog, plan, code version and lineage run."""

    step: Step
    args: argparse.Namespace
    cfg: PipelineConfig
    catalog: Catalog
    beam_argv: list[str]
    parent: ParentRun | None
    code: str = ""
    plan: Plan | None = None
    run: StepRun | None = None
    # What the step answers besides its outputs (a gate's result), handed back in the Outcome.
    result: Any = None

    @property
    def ds(self) -> str | None:
        return self.args.ds

    @property
    def run_id(self) -> str:
        assert self.run is not None, "the lineage run starts after plan()"
        return self.run.run_id

    @property
    def inputs(self) -> list[PartitionRef]:
        assert self.plan is not None
        return self.plan.refs

    def producer(self) -> Producer:
        """The producer record of this run (with the Airflow task above it)."""
        return Producer.of(self.run_id, self.step.job, self.parent)

    def pipeline_options(self):
        """Beam options of this run (``pipeline_options``)."""
        return pipeline_options(self.cfg, self.beam_argv)

    def stage(self, dataset: str, value: str | None = None) -> StagedPartition:
        """This run's private folder in ``dataset``'s partition (``value`` defaults to ``--ds``)."""
        return self.catalog.stage(dataset, value or self.ds, self.run_id)

    def seal(self, staged: StagedPartition, **kwargs: Any) -> Manifest:
        """The manifest that would commit ``staged`` (producer, inputs and code version filled in)."""
        return self.catalog.seal(staged, **self._commit_args(kwargs))

    def publish(self, staged: StagedPartition, manifest: Manifest) -> Manifest:
        """Commit a sealed partition and report it as an output of the run."""
        self.publish_together((staged, manifest))
        return manifest

    def publish_together(self, *sealed: tuple[StagedPartition, Manifest]) -> None:
        """Commit sealed partitions in one commit (all visible or none, ``Catalog.publish_together``)
        and report them as outputs of the run, in this order: a step with several outputs
        publishes them with one call."""
        self.catalog.publish_together(sealed)
        for _, manifest in sealed:
            self.output(manifest)

    def commit(self, staged: StagedPartition, **kwargs: Any) -> Manifest:
        """Seal and publish in one go."""
        return self.publish(staged, self.seal(staged, **kwargs))

    def write_table(self, dataset: str, value: str | None, table, **kwargs: Any) -> Manifest:
        """Write one small Arrow table as a partition, commit it and report it."""
        manifest = self.catalog.write_table(dataset, value or self.ds, table, **self._commit_args(kwargs))
        self.output(manifest)
        return manifest

    def seal_table(self, dataset: str, value: str | None, table, **kwargs: Any) -> tuple[StagedPartition, Manifest]:
        """Stage and seal one small Arrow table as a partition, to publish with the run's other outputs."""
        staged = self.catalog.stage_table(dataset, value or self.ds, table, self.run_id)
        return staged, self.seal(staged, schema=table.schema, **kwargs)

    def output(self, manifest: Manifest) -> None:
        """Report a committed (or reused) partition in the COMPLETE event."""
        assert self.run is not None
        self.run.add_output(manifest)

    def _commit_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"producer": self.producer(), "inputs": self.inputs, "code_version": self.code, **kwargs}


Compute = Callable[[StepContext], str | None]


def pipeline_options(cfg: PipelineConfig, beam_argv: Sequence[str] = ()):
    """Beam options: the config's runner and defaults, overridden by the command line.

    The runner is always named: Beam 2.77's default first tries to download Prism."""
    from apache_beam.options.pipeline_options import PipelineOptions

    given = {arg.split("=", 1)[0].lstrip("-") for arg in beam_argv if arg.startswith("--")}
    defaults = [f"--runner={cfg.beam.runner}"] if "runner" not in given else []
    defaults += [f"--{k}={v}" for k, v in cfg.beam.options.items() if k not in given]
    return PipelineOptions([*defaults, *beam_argv])


def default_plan(ctx: StepContext) -> Plan:
    """Read every declared input's partition of ``--ds``; write every declared output's."""
    return Plan(inputs=[ctx.catalog.require(d, ctx.ds) for d in ctx.step.reads],
                outputs=[(d, ctx.ds) for d in ctx.step.writes])


def unchanged(ctx: StepContext, reused: list[Manifest]) -> str:
    """The summary of a skipped run."""
    return "unchanged, skipped (" + ", ".join(f"{m.dataset}@{m.version}" for m in reused) + ")"


@dataclass
class Outcome:
    """What a run did: the step, the outputs committed or reused, and its summary line."""

    step: Step
    outputs: list[Manifest]
    skipped: bool
    summary: str
    run_id: str
    result: Any = None

    @property
    def output(self) -> Manifest:
        """The main output: the step's first declared dataset among the outputs (else the first)."""
        main = [m for m in self.outputs if m.dataset == self.step.main_output]
        return (main or self.outputs)[0]


@dataclass(frozen=True)
class Job:
    """The code side of a step: how ``python -m <job>`` computes. Declared once per job module:

        JOB = Job("beam_jobs.clean", compute)
        run, main = JOB.run, JOB.main     # run() returns the Outcome; main() the exit code
    """

    name: str
    compute: Compute
    plan: Callable[[StepContext], Plan] = default_plan
    # Extra command-line arguments of this job.
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    # Runs on a skip with the reused outputs (re-attach facets, re-raise a stored refusal);
    # returns the summary.
    on_skip: Callable[[StepContext, list[Manifest]], str] = unchanged
    ds_required: bool = True
    # OpenLineage integration, which also names the engine facet (lineage.emit.ENGINES).
    integration: str = "APACHE_BEAM"
    # False: the job decides itself what may be reused (a gate reuses a stored result).
    skips: bool = True
    # False: a report that commits no data and emits no lineage run of its own.
    lineage: bool = True
    # Of the job's process (python -m): the gates' library logs at INFO is noise.
    log_level: int = logging.INFO
    # The command line's last word, once the run ended and its outputs are committed (or reused):
    # what the job tells the world outside the catalog and the lineage (a fix's Airflow asset
    # event); returns a line to print, or None. Its exception ends the command with exit code 1,
    # and the commit stands.
    after_commit: Callable[[StepContext, Outcome], str | None] | None = None

    def parser(self) -> argparse.ArgumentParser:
        """The job's command line (``--help`` lists every flag)."""
        declared = registry.steps_of_job(self.name)[0]
        parser = argparse.ArgumentParser(prog=f"python -m {self.name}",
                                         description=f"{declared.name}: {', '.join(declared.reads)} -> "
                                                     f"{', '.join(declared.writes) or 'a report'}")
        parser.add_argument("--ds", required=self.ds_required,
                            help="partition date YYYY-MM-DD (of reference data: the run's nominal date)")
        parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
        parser.add_argument("--force", action="store_true",
                            help="recompute even if inputs and code equal those of the committed outputs")
        ParentRun.add_args(parser)
        if self.arguments:
            self.arguments(parser)
        return parser

    def step(self, args: argparse.Namespace) -> Step:
        """The declaration this run is an instance of: by ``--dataset`` where a job runs as several
        steps (gates); a dataset no DAG gates (a gate run by hand) gets the job's declaration
        with that dataset (the same config sections, so the same code version)."""
        declared = registry.steps_of_job(self.name)
        dataset = getattr(args, "dataset", None)
        if dataset is None or len(declared) == 1 and declared[0].dataset in (None, dataset):
            return declared[0]
        matching = [s for s in declared if s.dataset == dataset]
        if matching:
            return matching[0]
        return replace(declared[0], name=f"{self.name.rsplit('.', 1)[-1]}_{dataset.split('.', 1)[-1]}",
                       dag="", reads=(dataset,), dataset=dataset, after=())

    def context(self, argv: Sequence[str] | None, cfg: PipelineConfig | None = None) -> StepContext:
        """Parse the command line and load the configuration once (``cfg``: already loaded)."""
        parser = self.parser()
        args, beam_argv = parser.parse_known_args(argv)
        unknown = [a for a in beam_argv if not a.startswith("--")]
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        cfg = cfg or load_config(args.config)
        return StepContext(self.step(args), args, cfg, Catalog(cfg), beam_argv, ParentRun.from_args(args))

    def run(self, argv: Sequence[str] | None = None, *, cfg: PipelineConfig | None = None,
            emitter: LineageEmitter | None = None) -> Outcome:
        """Run the step once (plan, skip or compute, commit, lineage); raises on failure."""
        return self.execute(self.context(argv, cfg), emitter=emitter)

    def execute(self, ctx: StepContext, *, emitter: LineageEmitter | None = None) -> Outcome:
        """Run an already parsed step."""
        ctx.code = step_code_version(ctx.step, ctx.cfg)
        # A missing input fails here, before the run starts (no lineage run for a run that never began).
        ctx.plan = self.plan(ctx)
        if not self.lineage:
            return Outcome(ctx.step, [], False, self.compute(ctx) or "done", "", ctx.result)
        with step_run(ctx.cfg, self.name, ctx.plan.refs, parent=ctx.parent, nominal_date=ctx.ds, emitter=emitter,
                      integration=self.integration) as run:
            ctx.run = run
            reused = None
            for dataset, value in ctx.plan.outputs:
                # A killed run's commit is finished (or discarded) before anything looks at its outputs.
                ctx.catalog.recover(dataset, value)
            if self.skips and ctx.plan.outputs and not ctx.args.force:
                reused = ctx.catalog.reusable(ctx.plan.outputs, ctx.plan.refs, ctx.code)
            if reused:
                run.skipped = True
                for manifest in reused:
                    ctx.output(manifest)
                summary = self.on_skip(ctx, reused)
            else:
                summary = self.compute(ctx) or _committed(run.outputs)
        return Outcome(ctx.step, list(run.outputs), run.skipped, summary, run.run_id, ctx.result)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """The command line: run, print the summary as the last line; the exit code.

        A run that fails after it committed outputs says so (on stderr, after the error): the
        commit stands, and a re-run reuses it."""
        ctx: StepContext | None = None
        try:
            ctx = self.context(argv)
            outcome = self.execute(ctx)
        except StepRefused as refused:
            return self._stopped(ctx, str(refused), 1)
        except StepCouldNotRun as could_not:
            return self._stopped(ctx, str(could_not), 2)
        except (FileNotFoundError, LookupError) as missing:  # an input, dataset or version that is not there
            message = missing.args[0] if isinstance(missing, KeyError) and missing.args else missing
            return self._stopped(ctx, f"{self.name} ERROR: {message}", 2)
        except Exception:
            traceback.print_exc()
            return self._stopped(ctx, "", 1)
        print(f"{outcome.step.name}{f' {outcome_ds(outcome)}' if outcome_ds(outcome) else ''}: {outcome.summary}")
        if self.after_commit is not None:
            try:
                note = self.after_commit(ctx, outcome)
            except Exception as exc:  # noqa: BLE001 - whatever failed, the outputs are committed: say so
                print(f"{self.name} ERROR after the commit: {exc}", file=sys.stderr)
                print(f"{self.name} committed {_committed(outcome.outputs)}: the commit stands (a re-run with the "
                      "same inputs reuses it)", file=sys.stderr)
                return 1
            if note:
                print(note)
        return 0

    def _stopped(self, ctx: StepContext | None, message: str, code: int) -> int:
        if message:
            print(message, file=sys.stderr)
        run = ctx.run if ctx is not None else None
        if run is not None and run.outputs and not run.skipped:
            print(f"{self.name} committed {_committed(run.outputs)} before it stopped with exit code {code}: "
                  "the commit stands (a re-run with the same inputs and code reuses it)", file=sys.stderr)
        return code

    def exit(self) -> None:
        """``if __name__ == "__main__": JOB.exit()``."""
        configure_job_logging(self.log_level)
        try:
            code = self.main()
        except SystemExit as stop:  # the command line's own exit (--help, a usage error)
            code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - not even an interrupt may reach the interpreter's teardown
            traceback.print_exc()
            code = 1
        # The process ends here without the interpreter's teardown, whatever happened above. It
        # costs a task 0.4 s (Beam) to 1.3 s (TensorFlow) of finalizers for nothing
        # (bench/overhead.py), and it is where a C++ thread loaded with Beam, still joinable when
        # its destructor ran, aborted committed runs ("terminate called without an active
        # exception", exit code 134; 1 in 200 runs under load). By now every output
        # is committed by rename and every lineage event sent (lineage.emit.step_run closes its
        # client); only buffered output remains, flushed here.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def outcome_ds(outcome: Outcome) -> str:
    """The partition a summary line names (the main output's, or nothing for a report)."""
    return outcome.output.partition if outcome.outputs else ""


def _committed(outputs: list[Manifest]) -> str:
    return ", ".join(f"{m.dataset}@{m.version} ({m.row_count} rows)" if m.row_count is not None
                     else f"{m.dataset}@{m.version}" for m in outputs) or "done"
