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

Several partitions committed together (a step's outputs, ``publish_together``) cannot be
replaced by one rename, so their commit point is one commit record instead:

1. each new manifest is put beside the current one as ``_PENDING_MANIFEST.<commit id>.json``;
2. the commit record ``<data root>/_commits/<commit id>.json``, naming every pending manifest, is
   put in one atomic put: the commit point;
3. each pending manifest is rolled forward (becomes ``_MANIFEST.json``, old runs are removed);
   then the record is deleted.

A reader takes a partition's pending manifest as its committed one exactly when the pending
manifest's commit record exists; otherwise ``_MANIFEST.json``. So a process killed before the
record leaves every partition at its previous version, one killed after it leaves every partition
at its new version, and the next commit of any of those partitions (or ``recover``) finishes or
discards what it left.
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from lineage.versioning import TableHasher, bytes_version
from user_pipeline.config import PipelineConfig

MANIFEST = "_MANIFEST.json"
# A manifest of a commit of several partitions, named by its commit id, before it is rolled forward.
PENDING_PREFIX, PENDING_SUFFIX = "_PENDING_MANIFEST.", ".json"
# Commit records of commits of several partitions (under the data root), while they roll forward.
COMMITS_DIR = "_commits"


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
        partition = self.fs_path(self.partition_uri(dataset, value))
        for attempt in range(3):
            path = self._committed_manifest_path(partition)
            if path is None:
                return None
            try:
                with self.fs.open(path, "rb") as fh:
                    return Manifest(**json.load(fh))
            except FileNotFoundError:
                # A pending manifest rolled forward between listing and reading: look again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

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
            if name.startswith(f"{key}=") and self._committed_manifest_path(entry.rstrip("/")) is not None:
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
        self.publish_together([(staged, manifest)])

    def publish_together(self, sealed: Sequence[tuple[StagedPartition, Manifest]]) -> None:
        """Commit sealed partitions together: readers see every one at its new version or every one
        at its previous version, whenever the process dies (the module's docstring: one commit
        record for several partitions)."""
        partitions = [self.fs_path(staged.partition_uri) for staged, _ in sealed]
        if len(set(partitions)) != len(partitions):
            raise ValueError(f"a partition can be committed once per commit: {partitions}")
        staging = {f"run={staged.run_id}" for staged, _ in sealed}
        for partition in partitions:
            self._recover(partition, keep=staging)  # what an earlier, killed commit left there
        if len(sealed) == 1:  # one rename commits one partition
            ((staged, manifest),) = sealed
            self._atomic_put(f"{staged.partition_uri}/{MANIFEST}", _manifest_bytes(manifest))
            self._collect_garbage(self.fs_path(staged.partition_uri), {f"run={staged.run_id}"})
            return
        commit_id = uuid.uuid4().hex
        for staged, manifest in sealed:
            self._atomic_put(f"{staged.partition_uri}/{PENDING_PREFIX}{commit_id}{PENDING_SUFFIX}",
                             _manifest_bytes(manifest))
        named = [{"dataset": manifest.dataset, "partition": manifest.partition, "version": manifest.version,
                  "path": posixpath.relpath(path, self._root_path)}  # under the data root
                 for path, (_, manifest) in zip(partitions, sealed, strict=True)]
        record = {"commit": commit_id, "committed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  "partitions": named}
        self._atomic_put(self._commit_record_uri(commit_id), json.dumps(record, indent=2).encode())
        self._roll_forward(commit_id)

    def recover(self, dataset: str, value: str) -> None:
        """Finish (or discard) what a killed commit left in a partition: a pending manifest whose
        commit record exists becomes the partition's manifest, with every partition committed with
        it; one without a record is removed. Readers need not call this (they read through it)."""
        self._recover(self.fs_path(self.partition_uri(dataset, value)))

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
        staged = self.stage_table(dataset, value, table, producer.run_id)
        return self.commit(
            staged, producer=producer, inputs=inputs, code_version=code_version,
            schema=table.schema, extra=extra,
        )

    def stage_table(self, dataset: str, value: str, table: pa.Table, run_id: str) -> StagedPartition:
        """Stage one Arrow table as a run's partition (one Parquet file), to seal and publish."""
        staged = self.stage(dataset, value, run_id)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        with self.fs.open(self.fs_path(staged.path("part-00000-of-00001.parquet")), "wb") as fh:
            fh.write(buf.getvalue())
        return staged

    # -- the commit protocol (module docstring) ------------------------------------------
    def _committed_manifest_path(self, partition: str) -> str | None:
        """The path of a partition's committed manifest (``partition``: a path of ``self.fs``): its
        pending manifest whose commit record exists, else ``_MANIFEST.json``, else None."""
        names = self._names(partition)
        for name in names:
            commit_id = _pending_commit(name)
            if commit_id and self.fs.exists(self.fs_path(self._commit_record_uri(commit_id))):
                return f"{partition}/{name}"
        return f"{partition}/{MANIFEST}" if MANIFEST in names else None

    def _names(self, folder: str) -> list[str]:
        try:
            return [posixpath.basename(entry.rstrip("/")) for entry in self.fs.ls(folder, detail=False)]
        except FileNotFoundError:
            return []

    def _commit_record_uri(self, commit_id: str) -> str:
        return f"{self.root}/{COMMITS_DIR}/{commit_id}.json"

    def _recover(self, partition: str, keep: set[str] | frozenset[str] = frozenset()) -> None:
        """``keep``: run folders a commit in progress staged (not garbage of the commit recovered)."""
        path = posixpath.relpath(partition, self._root_path)
        records = self.fs_path(f"{self.root}/{COMMITS_DIR}")
        for name in self._names(records):
            if name.startswith(".") or not name.endswith(".json"):
                continue  # a put that never completed
            record = self._read_record(f"{records}/{name}")
            if record and path in {entry["path"] for entry in record["partitions"]}:
                # A commit killed after its commit point: finish it, in every partition.
                self._roll_forward(record["commit"], keep)
        for name in self._names(partition):
            if _pending_commit(name) is not None:  # killed before its commit point: never committed
                self._remove(f"{partition}/{name}")

    def _roll_forward(self, commit_id: str, keep: set[str] | frozenset[str] = frozenset()) -> None:
        """Make every pending manifest of a recorded commit its partition's manifest, then forget
        the record. Idempotent: a kill anywhere in here is finished by the next call."""
        record_path = self.fs_path(self._commit_record_uri(commit_id))
        record = self._read_record(record_path)
        if record is None:
            return  # rolled forward by another process
        for entry in record["partitions"]:
            partition = f"{self._root_path}/{entry['path']}"
            pending = f"{partition}/{PENDING_PREFIX}{commit_id}{PENDING_SUFFIX}"
            try:
                with self.fs.open(pending, "rb") as fh:
                    payload = fh.read()
            except FileNotFoundError:
                continue  # rolled forward already
            self._atomic_put(f"{partition}/{MANIFEST}", payload)
            self._remove(pending)
            files = json.loads(payload)["files"]
            self._collect_garbage(partition, {name.split("/", 1)[0] for name in files} | keep)
        self._remove(record_path)

    def _read_record(self, path: str) -> dict[str, Any] | None:
        """A commit record, or None once it is removed (commits of other steps finish concurrently)."""
        try:
            with self.fs.open(path, "rb") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None

    def _remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):  # removed by a concurrent recovery
            self.fs.rm(path)

    def _atomic_put(self, uri: str, payload: bytes) -> None:
        path = self.fs_path(uri)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        tmp = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.tmp"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(payload)
        self.fs.mv(tmp, path)

    def _collect_garbage(self, partition: str, keep: set[str]) -> None:
        """Remove folders of earlier or crashed runs: only the committed run's files (``keep``) stay."""
        for entry in self.fs.ls(partition, detail=False):
            name = posixpath.basename(entry.rstrip("/"))
            if name.startswith("run=") and name not in keep:
                self.fs.rm(entry, recursive=True)


def _manifest_bytes(manifest: Manifest) -> bytes:
    return json.dumps(asdict(manifest), indent=2).encode()


def _pending_commit(name: str) -> str | None:
    """The commit id of a pending manifest's file name, else None."""
    if name.startswith(PENDING_PREFIX) and name.endswith(PENDING_SUFFIX):
        return name[len(PENDING_PREFIX):-len(PENDING_SUFFIX)]
    return None


def _type_from_str(name: str) -> pa.DataType:
    return pa.type_for_alias(name)
