"""What the Beam jobs share besides the harness (user_pipeline.steps.harness): Parquet output."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from lineage.catalog import StagedPartition


def write_tables(staged: StagedPartition, schema: pa.Schema, label: str) -> beam.PTransform:
    """Write a PCollection of Arrow tables as Parquet files into a run's staging folder."""
    return label >> beam.io.WriteToParquetBatched(
        file_path_prefix=staged.path("part"),
        schema=schema,
        file_name_suffix=".parquet",
    )
