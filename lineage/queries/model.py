"""The answers of the lineage queries: artifacts (dataset versions), runs, the edges between them,
and the graph that upstream / downstream / impact return."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_DEPTH = 20


class LineageLookupError(LookupError):
    """An artifact that the store does not know (unknown dataset or version, ambiguous prefix)."""


@dataclass(frozen=True, order=True)
class Node:
    """A dataset version: (dataset, partition, version) of the dataset ``namespace``/``dataset``
    (OpenLineage names a dataset by both). ``namespace`` is "" only in graphs built without the
    store (a run report's), never in a query's answer."""

    dataset: str
    partition: str
    version: str
    namespace: str = ""

    @classmethod
    def of(cls, row: Any) -> Node:
        """The artifact a ``run_inputs`` / ``run_outputs`` row names."""
        return cls(row["dataset"], row["partition"], row["version"], row["namespace"])

    @property
    def key(self) -> str:
        return f"a:{self.namespace}|{self.dataset}|{self.partition}|{self.version}"

    @property
    def qualified(self) -> str:
        """``NAMESPACE/NAME``, the dataset as the CLI accepts it whatever the namespace."""
        return f"{self.namespace}/{self.dataset}" if self.namespace else self.dataset

    def __str__(self) -> str:
        where = f" [{self.partition}]" if self.partition else ""
        return f"{self.dataset}@{self.version or '?'}{where}"


@dataclass
class Artifact:
    """An artifact in a query result."""

    dataset: str
    partition: str
    version: str
    depth: int  # run hops from the nearest seed
    status: str  # current | superseded (see the module docstring)
    external: bool  # no recorded run committed it
    seed: bool = False
    producers: list[str] = field(default_factory=list)  # run ids that committed it
    committed_at: str | None = None  # first COMPLETE that committed it
    row_count: int | None = None
    slots: list[str] = field(default_factory=list)  # where it was committed (see run_outputs.slot)
    current_slots: list[str] = field(default_factory=list)  # of those, where it is still the latest
    replaced_by: list[str] = field(default_factory=list)  # current versions of the other slots
    namespace: str = ""
    synthetic: bool = False  # its producer sent no version facet: the version is its run's (run:<runId>)

    @property
    def node(self) -> Node:
        return Node(self.dataset, self.partition, self.version, self.namespace)

    @property
    def key(self) -> str:
        return self.node.key


@dataclass
class Run:
    """A run in a query result, with the Airflow DAG run that launched it."""

    run_id: str
    job: str
    state: str
    terminal: bool
    start_time: str
    end_time: str | None
    dag_id: str | None
    dag_run_id: str | None
    task_id: str | None
    logical_date: str | None
    try_number: int | None
    parent_run_id: str | None
    root_run_id: str | None
    skipped: bool
    error: str | None
    depth: int = 0
    namespace: str | None = None  # the job's
    parent_job: str | None = None  # parent.job.namespace + "/" + parent.job.name
    airflow_from: str | None = None  # where dag_id/task_id come from: "facet" (its own), "parent" (its task's)
    inferred_reads: bool = False  # it read a version of the answer without naming it (see Edge.inferred)

    @property
    def key(self) -> str:
        return f"r:{self.run_id}"


@dataclass(frozen=True)
class Edge:
    """``read``: artifact -> run; ``wrote``: run -> artifact (keys of Artifact / Run).

    ``inferred``: a read whose event named no version; the artifact is the version of the dataset
    current when the run started (lineage.store.ingest)."""

    source: str
    target: str
    kind: str
    inferred: bool = False


@dataclass
class LineageGraph:
    """The answer of upstream / downstream / impact."""

    query: str
    seeds: list[Node]
    artifacts: list[Artifact]
    runs: list[Run]
    edges: list[Edge]
    depth: int
    truncated: bool  # something lies beyond ``depth``
    as_of: str | None = None

    def artifact(self, dataset: str, version: str, namespace: str | None = None) -> Artifact | None:
        return next((a for a in self.artifacts if a.dataset == dataset and a.version == version
                     and namespace in (None, a.namespace)), None)

    def affected(self) -> list[Artifact]:
        """Everything but the seeds (what impact reports as affected)."""
        return [a for a in self.artifacts if not a.seed]

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query, "as_of": self.as_of, "depth": self.depth, "truncated": self.truncated,
            "seeds": [asdict(s) for s in self.seeds],
            "artifacts": [asdict(a) | {"key": a.key} for a in self.artifacts],
            "runs": [asdict(r) | {"key": r.key} for r in self.runs],
            "edges": [asdict(e) for e in self.edges],
        }


@dataclass
class VersionInfo:
    """One version of a dataset in one partition (``versions``)."""

    dataset: str
    partition: str
    version: str
    current: bool
    external: bool
    producers: list[str]
    jobs: list[str]
    first_committed: str | None
    last_committed: str | None
    first_read: str | None
    readers: int
    row_count: int | None
    skipped_only: bool  # only ever re-emitted by skips (its first producer is not in the store)
    logical_dates: list[str]
    namespace: str = ""
    synthetic: bool = False  # the producer sent no version facet (see Artifact.synthetic)
    inferred_readers: int = 0  # of the readers, those that named no version (linked by time)


def parse_artifact(spec: str) -> tuple[str, str | None]:
    """``DATASET[@VERSION]`` -> (DATASET, VERSION or None), as the CLI and the service take it.

    DATASET is a name (``curated.users_clean``) or ``NAMESPACE/NAME`` (``s3://bucket/raw/events``,
    ``postgres://db:5432/shop.public.orders``): ``lineage.queries.lookup.find_dataset`` decides
    against the store where the namespace ends. The version follows the last ``@`` when what
    follows it has no ``/`` (versions never do; names and namespaces may hold ``@``,
    ``abfss://container@account.dfs.core.windows.net/path``). A name whose own last ``@`` would be
    read as a version ends with a bare ``@``: ``user@events@`` is the dataset ``user@events``,
    any version; ``user@events@v3`` its version ``v3``.
    """
    dataset, at, version = spec.rpartition("@")
    if not at or "/" in version:
        dataset, version = spec, ""
    if not dataset:
        raise LineageLookupError(f"no dataset in {spec!r} (expected DATASET or DATASET@VERSION)")
    return dataset, version or None
