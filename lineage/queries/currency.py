"""Whether an artifact is current: the latest COMPLETE output of its slot (see the package
docstring), for external inputs the latest read of its partition; and, for ``impact``, which runs
really derive from the seeds at the level of commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lineage.queries.lookup import rows_for_nodes, rows_for_runs, time_ok
from lineage.queries.model import Node, Run
from lineage.store import output_slot, run_inputs, run_outputs
from lineage.store.schema import chunks


def status_of(conn: Connection, nodes: Sequence[Node], as_of: str | None) -> dict[Node, dict[str, Any]]:
    """current / superseded / external, producers, slots of each artifact (see the docstring of lineage.queries)."""
    info: dict[Node, dict[str, Any]] = {
        n: {"producers": [], "slots": set(), "committed_at": None, "row_count": None, "synthetic": False}
        for n in nodes}
    for row in rows_for_nodes(conn, run_outputs, nodes, as_of):
        entry = info[Node.of(row)]
        entry["producers"].append((row["committed_at"], row["run_id"]))
        entry["slots"].add(row["slot"])
        entry["synthetic"] = entry["synthetic"] or bool(row["synthetic"])
        if entry["committed_at"] is None or row["committed_at"] < entry["committed_at"]:
            entry["committed_at"] = row["committed_at"]
        if row["row_count"] is not None:
            entry["row_count"] = row["row_count"]
    slots = sorted({(n.namespace, n.dataset, s) for n, e in info.items() for s in e["slots"]})
    latest_of = current_of_slots(conn, slots, as_of)
    external = [n for n, e in info.items() if not e["producers"]]
    external_current = external_currency(conn, external, as_of)
    result = {}
    for node, entry in info.items():
        current_slots, replaced_by = [], []
        for slot in sorted(entry["slots"]):
            now = latest_of.get((node.namespace, node.dataset, slot))
            if now is not None and now[0] == node:
                current_slots.append(slot)
            elif now is not None:
                replaced_by.append(str(now[0]))
        is_external = not entry["producers"]
        current = bool(current_slots) if not is_external else external_current.get(node, True)
        result[node] = {
            "status": "current" if current else "superseded", "external": is_external,
            "producers": [run_id for _, run_id in sorted(entry["producers"])],
            "committed_at": entry["committed_at"], "row_count": entry["row_count"],
            "slots": sorted(entry["slots"]), "current_slots": current_slots, "replaced_by": sorted(set(replaced_by)),
            "synthetic": entry["synthetic"],
        }
    return result


def current_of_slots(conn: Connection, slots: Sequence[tuple[str, str, str]],
                     as_of: str | None = None) -> dict[tuple[str, str, str], tuple[Node, str, str]]:
    """(namespace, dataset, slot) -> (artifact, committed_at, run_id) of its latest COMPLETE output."""
    best: dict[tuple[str, str, str], tuple[Node, str, str]] = {}
    by_dataset: dict[tuple[str, str], set[str]] = defaultdict(set)
    for namespace, dataset, slot in slots:
        by_dataset[(namespace, dataset)].add(slot)
    for (namespace, dataset), wanted in sorted(by_dataset.items()):
        for chunk in chunks(sorted(wanted)):
            query = sa.select(run_outputs.c.slot, run_outputs.c.partition, run_outputs.c.version,
                              run_outputs.c.committed_at, run_outputs.c.run_id).where(
                run_outputs.c.dataset == dataset, run_outputs.c.namespace == namespace,
                run_outputs.c.slot.in_(chunk), time_ok(run_outputs, as_of))
            for slot, partition, version, committed_at, run_id in conn.execute(query):
                known = best.get((namespace, dataset, slot))
                # Latest by event time; the run id (UUIDv7, time-ordered) breaks exact ties.
                if known is None or (committed_at, run_id) > (known[1], known[2]):
                    best[(namespace, dataset, slot)] = (Node(dataset, partition, version, namespace), committed_at,
                                                        run_id)
    return best


def external_currency(conn: Connection, nodes: Sequence[Node], as_of: str | None) -> dict[Node, bool]:
    """Whether an external artifact is still the latest of its slot: nothing read later from the
    same partition (ds=) or dataset (version=) and nothing committed there since it was first read."""
    result: dict[Node, bool] = {}
    by_dataset: dict[tuple[str, str], list[Node]] = defaultdict(list)
    for node in nodes:
        by_dataset[(node.namespace, node.dataset)].append(node)
    for (namespace, dataset), group in by_dataset.items():
        slots = sorted({output_slot(n.partition, "", None) for n in group})
        query = sa.select(run_inputs.c.partition, run_inputs.c.version, sa.func.min(run_inputs.c.first_seen)).where(
            run_inputs.c.dataset == dataset, run_inputs.c.namespace == namespace, time_ok(run_inputs, as_of)).group_by(
            run_inputs.c.partition, run_inputs.c.version)
        outputs = sa.select(run_outputs.c.partition, run_outputs.c.version, run_outputs.c.slot,
                            run_outputs.c.committed_at).where(run_outputs.c.dataset == dataset,
                                                              run_outputs.c.namespace == namespace,
                                                              time_ok(run_outputs, as_of))
        if "" not in slots:
            # Daily partitions: only the partitions asked about (a raw dataset has one per day).
            query = query.where(run_inputs.c.partition.in_(slots))
            outputs = outputs.where(run_outputs.c.slot.in_(slots))
        candidates: dict[str, list[tuple[str, Node]]] = defaultdict(list)
        for partition, version, first in conn.execute(query):
            candidates[output_slot(partition, "", None)].append((first, Node(dataset, partition, version, namespace)))
        for partition, version, slot, committed_at in conn.execute(outputs):
            candidates[slot].append((committed_at, Node(dataset, partition, version, namespace)))
        for node in group:
            slot = output_slot(node.partition, "", None)
            newest = max(candidates.get(slot, [("", node)]))[1]
            result[node] = newest == node
    return result



def derived_runs(conn: Connection, seeds: set[Node], reads: list[Any], candidates: dict[str, Run],
                 as_of: str | None) -> tuple[set[str], set[str]]:
    """The candidate runs that are really derived from the seeds, at the level of commits, and the
    runs that re-derived a seed unchanged (``(derived, repairs)``).

    Versions are content hashes, so one artifact can be committed twice: once by a run derived
    from the bad version and again, unchanged, by its re-run from clean inputs (a backfill whose
    output did not change). A run read the commit that was the latest of that artifact when it
    started; it is derived when that commit was made by a derived run, or when it read a seed.
    Readers of the clean re-commit are not derived, so a backfill that changed nothing downstream
    leaves nothing current in the impact.

    A seed itself can be re-derived unchanged: its producer, re-run after the fix (new inputs or
    new code), computed the same content version. Such a commit (not a content-addressed skip,
    which reuses and so proves nothing; by a run not derived from the seeds; after an earlier
    commit of the same version) is a **repair**: its readers are not derived. A skip of the same
    inputs and code, or a first commit, keeps the seed bad.

    The correction of a bad reference version is not derived from it either, though it reads it:
    a run that read a seed of a ``version=`` dataset and committed another ``version=`` of that
    same dataset (``user_pipeline.labels.fix`` writing spam labels v2 from v1), or read a seed and
    committed another version of that same partition (``user_pipeline.fix`` replacing a raw drop),
    is the fix."""
    inputs_of: dict[str, set[Node]] = defaultdict(set)
    for row in reads:
        inputs_of[row["run_id"]].add(Node.of(row))
    fixes = {row["run_id"] for row in rows_for_runs(conn, run_outputs, inputs_of, as_of)
             if any(replaces(n, Node.of(row)) for n in inputs_of[row["run_id"]] & seeds)}
    read_nodes = {n for ns in inputs_of.values() for n in ns}
    commits: dict[Node, list[tuple[str, str, bool]]] = defaultdict(list)
    for row in rows_for_nodes(conn, run_outputs, sorted(read_nodes), as_of):
        commits[Node.of(row)].append((row["committed_at"], row["run_id"], bool(row["skipped"])))
    for made in commits.values():
        made.sort()
    derived: set[str] = set()

    def repair(node: Node, commit: tuple[str, str, bool]) -> bool:
        return node in seeds and not commit[2] and commit[1] not in derived and commit != commits[node][0]

    ordered = sorted(candidates.values(), key=lambda r: (r.start_time or "", r.run_id))
    changed = True
    while changed:  # a fixpoint, in case event times are not in causal order
        changed = False
        for run in ordered:
            if run.run_id in derived or run.run_id in fixes:
                continue
            for node in inputs_of.get(run.run_id, ()):
                made = commits.get(node, [])
                seen = [c for c in made if c[0] <= (run.start_time or "")] or made
                latest = max(seen) if seen else None
                if node in seeds and (latest is None or not repair(node, latest)) or (
                        node not in seeds and latest is not None and latest[1] in derived):
                    derived.add(run.run_id)
                    changed = True
                    break
    repairs = {c[1] for node, made in commits.items() for c in made if repair(node, c)}
    return derived, repairs


def replaces(read: Node, written: Node) -> bool:
    """Whether a run that read ``read`` and committed ``written`` replaced it (a fix, not a
    derivation): the same dataset, at another ``version=`` or at another version of the same partition."""
    if (read.namespace, read.dataset) != (written.namespace, written.dataset):
        return False
    if read.partition.startswith("version="):
        return written.partition.startswith("version=") and written.partition != read.partition
    return written.partition == read.partition and written.version != read.version


def only_derived_commits_current(conn: Connection, status: dict[Node, dict[str, Any]], seeds: set[Node],
                                 derived: set[str], repairs: set[str], as_of: str | None) -> None:
    """An affected artifact stays current only where the latest commit of its slot was made by a
    derived run; re-committed unchanged by a clean run, it counts as superseded. A seed stays
    current (still to redo) unless the latest commit of its slot is a repair (``derived_runs``)."""
    slots = sorted({(n.namespace, n.dataset, s) for n, e in status.items() for s in e["current_slots"]})
    latest_of = current_of_slots(conn, slots, as_of)
    for node, entry in status.items():
        if entry["external"] or not entry["current_slots"]:
            continue
        if node in seeds:
            keep = [s for s in entry["current_slots"]
                    if latest_of[(node.namespace, node.dataset, s)][2] not in repairs]
            again = f"{node} (re-derived unchanged after the fix: repaired)"
        else:
            keep = [s for s in entry["current_slots"] if latest_of[(node.namespace, node.dataset, s)][2] in derived]
            again = f"{node} (re-derived from clean inputs, unchanged)"
        if keep != entry["current_slots"]:
            entry["replaced_by"] = sorted(set(entry["replaced_by"]) | {again})
            entry["current_slots"] = keep
            entry["status"] = "current" if keep else "superseded"
