"""What the Beam jobs share besides the harness (user_pipeline.steps.harness): reading and writing
Parquet partitions as Arrow tables, and the counters a job checks its accounting with."""

from __future__ import annotations

from collections.abc import Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.parquetio import ReadAllFromParquetBatched
from apache_beam.metrics.metric import MetricsFilter

from lineage.catalog import StagedPartition


def write_tables(staged: StagedPartition, schema: pa.Schema, label: str) -> beam.PTransform:
    """Write a PCollection of Arrow tables as Parquet files into a run's staging folder."""
    return label >> beam.io.WriteToParquetBatched(
        file_path_prefix=staged.path("part"),
        schema=schema,
        file_name_suffix=".parquet",
    )


class ReadTables(beam.PTransform):
    """Parquet files (a committed partition's) -> Arrow tables, one per record batch."""

    def __init__(self, files: Sequence[str]):
        super().__init__()
        self.files = list(files)

    def expand(self, pbegin):
        return pbegin | "Files" >> beam.Create(self.files) | "Read" >> ReadAllFromParquetBatched()


def counters(result, namespace: str) -> dict[str, int]:
    """The job's Beam counters by name (committed where the runner commits them)."""
    found = result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]
    totals: dict[str, int] = {}
    for counter in found:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(counter.committed or counter.attempted or 0)
    return totals
