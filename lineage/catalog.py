"""The dataset registry and committed partitions (docs/datasets-and-versions.md).

Layout under the data root::

    <dataset path>/ds=2026-01-01/_MANIFEST.json
    <dataset path>/ds=2026-01-01/run=<run id>/part-00000-of-00001.parquet

Commit protocol: a run writes its files into its own ``run=<id>/`` folder, then writes the
manifest, which lists those files, in one atomic put (write a temporary file, then rename). The
manifest is the commit point: readers go through it and see either the previous committed
version or the new one, never half of one. A run that dies before the manifest leaves only an
orphan ``run=`` folder, which is not committed and is removed by the next commit. This works the
same on object stores, where a single object PUT is atomic and directory renames are not.
"""

from __future__ import annotations

import io
import json
import posixpath
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from lineage.versioning import TableHasher, bytes_version
from user_pipeline.config import PipelineConfig

MANIFEST = "_MANIFEST.json"


@dataclass(frozen=True)
class PartitionRef:
    """One partition of a dataset: ``ds=YYYY-MM-DD`` or ``version=<id>``, at a content version."""

    dataset: str
    key: str
    value: str
    version: str = ""

    @property
    def label(self) -> str:
        return f"{self.key}={self.value}"

    def to_json(self) -> dict[str, str]:
        return {"dataset": self.dataset, "partition": self.label, "version": self.version}


@dataclass(frozen=True)
class Producer:
    """The run that produced a partition (and the Airflow task run that launched it, if any)."""

    job: str
    run_id: str
    parent: dict[str, Any] | None = None

    @classmethod
    def of(cls, run_id: str, job: str, parent: Any = None) -> Producer:
        """A producer record; ``parent`` is a dataclass (``lineage.emit.ParentRun``) or None."""
        return cls(job, run_id, asdict(parent) if parent is not None else None)


@dataclass
class Manifest:
    dataset: str
    partition: str
    version: str
    version_method: str
    row_count: int | None
    schema: list[dict[str, str]]
    files: list[str]
    producer: dict[str, Any]
    inputs: list[dict[str, str]]
    code_version: str
    committed_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> PartitionRef:
        key, value = self.partition.split("=", 1)
        return PartitionRef(self.dataset, key, value, self.version)


@dataclass(frozen=True)
class StagedPartition:
    """A run's private folder inside a partition; nothing in it is visible until commit."""

    dataset: str
    key: str
    value: str
    run_id: str
    partition_uri: str

    @property
    def dir_uri(self) -> str:
        return f"{self.partition_uri}/run={self.run_id}"

    def path(self, name: str) -> str:
        return f"{self.dir_uri}/{name}"


class Catalog:
    """Resolves logical dataset names to locations and reads/commits partitions."""

    def __init__(self, cfg: PipelineConfig):
        self.cfg = cfg
        self.fs, self._root_path = fsspec.core.url_to_fs(cfg.data_root)
        self.root = cfg.data_root

    # -- names and locations -------------------------------------------------------------
    def dataset_uri(self, dataset: str) -> str:
        return f"{self.root}/{self.cfg.dataset(dataset).path}"

    def partition_key(self, dataset: str) -> str:
        return self.cfg.dataset(dataset).partitioning

    def partition_uri(self, dataset: str, value: str) -> str:
        return f"{self.dataset_uri(dataset)}/{self.partition_key(dataset)}={value}"

    def fs_path(self, uri: str) -> str:
        """``uri`` as a path of ``self.fs`` (its protocol stripped): what ``self.fs.open`` takes."""
        return self.fs._strip_protocol(uri)

    # -- reading -------------------------------------------------------------------------
    def manifest(self, dataset: str, value: str) -> Manifest | None:
        """The committed manifest of a partition, or None if it was never committed."""
        path = self.fs_path(f"{self.partition_uri(dataset, value)}/{MANIFEST}")
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as fh:
            return Manifest(**json.load(fh))

    def require(self, dataset: str, value: str) -> Manifest:
        """The committed manifest, or a clear error naming what is missing."""
        found = self.manifest(dataset, value)
        if found is None:
            raise FileNotFoundError(
                f"{dataset} has no committed partition "
                f"{self.partition_key(dataset)}={value} under {self.dataset_uri(dataset)}"
            )
        return found

    def committed(self, dataset: str) -> list[str]:
        """Partition values (dates or version ids) that have a manifest, sorted."""
        base = self.fs_path(self.dataset_uri(dataset))
        key = self.partition_key(dataset)
        if not self.fs.exists(base):
            return []
        values = []
        for entry in self.fs.ls(base, detail=False):
            name = posixpath.basename(entry.rstrip("/"))
            if name.startswith(f"{key}=") and self.fs.exists(f"{entry}/{MANIFEST}"):
                values.append(name.split("=", 1)[1])
        return sorted(values)

    def previous(self, dataset: str, value: str) -> Manifest | None:
        """The committed partition before ``value``: the latest earlier date, or the version committed
        last before this one (version ids need not sort: "v10" < "v2")."""
        if self.partition_key(dataset) == "ds":
            earlier = [v for v in self.committed(dataset) if v < value]
            return self.manifest(dataset, earlier[-1]) if earlier else None
        this = self.require(dataset, value)
        others = [m for v in self.committed(dataset) if v != value and (m := self.manifest(dataset, v))]
        earlier = [m for m in others if m.committed_at < this.committed_at]
        return max(earlier, key=lambda m: m.committed_at) if earlier else None

    def files(self, dataset: str, value: str) -> list[str]:
        """Absolute URIs of the data files of the committed partition."""
        found = self.require(dataset, value)
        base = self.partition_uri(dataset, value)
        return [f"{base}/{name}" for name in found.files]

    def read_table(self, dataset: str, value: str, columns: list[str] | None = None) -> pa.Table:
        """The committed Parquet partition as one Arrow table."""
        found = self.require(dataset, value)
        tables = []
        for uri in self.files(dataset, value):
            with self.fs.open(self.fs_path(uri), "rb") as fh:
                tables.append(pq.read_table(fh, columns=columns))
        if not tables:
            schema = pa.schema([(c["name"], _type_from_str(c["type"])) for c in found.schema])
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        return pa.concat_tables(tables)

    def reusable(
        self, outputs: list[tuple[str, str]], inputs: list[PartitionRef], code_version: str
    ) -> list[Manifest] | None:
        """The committed manifests of all ``(dataset, value)`` outputs if every one was derived from
        exactly these input versions by this code version, else None (content-addressed skip,
        docs/datasets-and-versions.md): a step that gets a list may skip and report those outputs."""
        wanted = [ref.to_json() for ref in inputs]
        found = []
        for dataset, value in outputs:
            manifest = self.manifest(dataset, value)
            if manifest is None or manifest.code_version != code_version or manifest.inputs != wanted:
                return None
            found.append(manifest)
        return found

    # -- writing -------------------------------------------------------------------------
    def stage(self, dataset: str, value: str, run_id: str) -> StagedPartition:
        """Open a run's private folder in the partition (created empty)."""
        staged = StagedPartition(
            dataset, self.partition_key(dataset), value, run_id, self.partition_uri(dataset, value)
        )
        path = self.fs_path(staged.dir_uri)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
        self.fs.makedirs(path, exist_ok=True)
        return staged

    def staged_files(self, staged: StagedPartition) -> list[str]:
        """Relative names (``run=<id>/...``) of every file the run wrote, sorted."""
        base = self.fs_path(staged.partition_uri)
        found = self.fs.find(self.fs_path(staged.dir_uri))
        return sorted(posixpath.relpath(p, base) for p in found)

    def read_staged(self, staged: StagedPartition, columns: list[str] | None = None) -> pa.Table:
        """Read back what a run staged (Parquet), before it is committed."""
        tables = []
        for name in self.staged_files(staged):
            with self.fs.open(self.fs_path(f"{staged.partition_uri}/{name}"), "rb") as fh:
                tables.append(pq.read_table(fh, columns=columns))
        return pa.concat_tables(tables) if tables else pa.table({c: [] for c in columns or []})

    def commit(self, staged: StagedPartition, **seal_args: Any) -> Manifest:
        """Seal and publish in one go (see ``seal``)."""
        manifest = self.seal(staged, **seal_args)
        self.publish(staged, manifest)
        return manifest

    def seal(
        self,
        staged: StagedPartition,
        *,
        producer: Producer,
        inputs: list[PartitionRef],
        code_version: str,
        schema: pa.Schema | None = None,
        version: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Manifest:
        """The manifest that would commit the run's files; nothing is visible until ``publish``.

        With ``schema`` the files are Parquet and the version is the row-multiset hash of their
        content columns (roles: ``lineage.versioning``); without,
        the files are opaque and hashed by bytes. ``version`` overrides the content version
        (models, named by derivation; see ``lineage.versioning.derivation_version``).
        """
        names = self.staged_files(staged)
        base = staged.partition_uri
        row_count: int | None = None
        if schema is not None:
            hasher = TableHasher(schema, staged.dataset)
            for name in names:
                with self.fs.open(self.fs_path(f"{base}/{name}"), "rb") as fh:
                    table = pq.read_table(fh)
                if not table.schema.equals(schema, check_metadata=False):
                    raise ValueError(f"{name}: schema {table.schema} does not match {schema}")
                hasher.update(table)
            content_version, method, row_count = hasher.version(), "rows-multiset-sha256", hasher.rows
            schema_json = [{"name": f.name, "type": str(f.type)} for f in schema]
        else:
            blobs = []
            for name in names:
                with self.fs.open(self.fs_path(f"{base}/{name}"), "rb") as fh:
                    blobs.append((posixpath.relpath(name, f"run={staged.run_id}"), fh.read()))
            content_version, method, schema_json = bytes_version(blobs), "files-sha256", []
        manifest = Manifest(
            dataset=staged.dataset,
            partition=f"{staged.key}={staged.value}",
            version=version or content_version,
            version_method="derivation" if version else method,
            row_count=row_count,
            schema=schema_json,
            files=names,
            producer=asdict(producer),
            inputs=[ref.to_json() for ref in inputs],
            code_version=code_version,
            committed_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            extra={**(extra or {}), "content_version": content_version},
        )
        return manifest

    def publish(self, staged: StagedPartition, manifest: Manifest) -> None:
        """The commit point: atomically replace the partition's manifest, then drop old runs."""
        self._atomic_put(f"{staged.partition_uri}/{MANIFEST}", json.dumps(asdict(manifest), indent=2).encode())
        self._collect_garbage(staged)

    def write_table(
        self,
        dataset: str,
        value: str,
        table: pa.Table,
        *,
        producer: Producer,
        inputs: list[PartitionRef],
        code_version: str,
        extra: dict[str, Any] | None = None,
    ) -> Manifest:
        """Write one Arrow table as a partition and commit it (small outputs, tests, datagen)."""
        staged = self.stage(dataset, value, producer.run_id)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        with self.fs.open(self.fs_path(staged.path("part-00000-of-00001.parquet")), "wb") as fh:
            fh.write(buf.getvalue())
        return self.commit(
            staged, producer=producer, inputs=inputs, code_version=code_version,
            schema=table.schema, extra=extra,
        )

    def _atomic_put(self, uri: str, payload: bytes) -> None:
        path = self.fs_path(uri)
        tmp = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.tmp"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(payload)
        self.fs.mv(tmp, path)

    def _collect_garbage(self, staged: StagedPartition) -> None:
        """Remove folders of earlier or crashed runs: only the committed run's files stay."""
        base = self.fs_path(staged.partition_uri)
        keep = f"run={staged.run_id}"
        for entry in self.fs.ls(base, detail=False):
            name = posixpath.basename(entry.rstrip("/"))
            if name.startswith("run=") and name != keep:
                self.fs.rm(entry, recursive=True)


def _type_from_str(name: str) -> pa.DataType:
    return pa.type_for_alias(name)
