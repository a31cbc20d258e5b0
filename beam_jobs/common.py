"""What every Beam job shares: its command line, pipeline options, and the skip rule."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions

from lineage.catalog import StagedPartition
from lineage.emit import ParentRun
from user_pipeline.config import PipelineConfig, load_config


def job_parser(description: str) -> argparse.ArgumentParser:
    """Arguments of every job; anything not listed here is a Beam pipeline option."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ds", required=True, help="partition date YYYY-MM-DD")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    parser.add_argument(
        "--force", action="store_true",
        help="recompute even if inputs and code equal those of the committed output",
    )
    ParentRun.add_args(parser)
    return parser


def parse_job_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, PipelineConfig, list[str]]:
    """Split job arguments from Beam options and load the configuration once."""
    args, beam_argv = parser.parse_known_args(argv)
    return args, load_config(args.config), beam_argv


def pipeline_options(cfg: PipelineConfig, beam_argv: Sequence[str]) -> PipelineOptions:
    """Beam options: the config's runner and defaults, overridden by the command line.

    The runner is always named (DESIGN §8): Beam's default would try to download Prism.
    """
    given = {arg.split("=", 1)[0].lstrip("-") for arg in beam_argv if arg.startswith("--")}
    defaults = [f"--runner={cfg.beam.runner}"] if "runner" not in given else []
    defaults += [f"--{k}={v}" for k, v in cfg.beam.options.items() if k not in given]
    return PipelineOptions([*defaults, *beam_argv])


def write_tables(staged: StagedPartition, schema: pa.Schema, label: str) -> beam.PTransform:
    """Write a PCollection of Arrow tables as Parquet files into a run's staging folder."""
    return label >> beam.io.WriteToParquetBatched(
        file_path_prefix=staged.path("part"),
        schema=schema,
        file_name_suffix=".parquet",
    )
