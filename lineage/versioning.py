"""Content and code versions (docs/datasets-and-versions.md).

A content version identifies data, not files: Parquet datasets are hashed as a multiset of rows
(independent of row order and of how a runner sharded the files), so identical data gets the
same version whatever produced it. Opaque files (raw drops, SavedModels) are hashed by bytes.

Which run wrote a row is not data: columns whose declared role is provenance
(``transforms.schema``) are left out of the hash. Roles are read from the schema hashed; a column
it declares no role for takes the role the dataset's declared schema gives it, and a column
declared nowhere is content: nothing is presumed provenance because of its name.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.schema import content_columns, with_roles

_NULL = "\x00<null>"
# Two independent 64-bit row hashes summed modulo 2**64 give a 128-bit multiset hash.
_HASH_KEYS = ("lineage.v1.key.a", "lineage.v1.key.b")
_MASK = (1 << 64) - 1


def _schema_fingerprint(schema: pa.Schema) -> str:
    return ";".join(f"{f.name}:{f.type}" for f in schema)


def _row_hash_sums(table: pa.Table) -> tuple[int, int]:
    if table.num_rows == 0:
        return 0, 0
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        as_text = pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col
        columns[name] = pc.fill_null(as_text, _NULL).to_numpy(zero_copy_only=False)
    frame = pd.DataFrame(columns)
    sums = []
    for key in _HASH_KEYS:
        hashes = pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy()
        sums.append(int(hashes.sum(dtype="uint64")) & _MASK)
    return sums[0], sums[1]


class TableHasher:
    """Accumulates the order-independent content hash of a table seen in batches.

    ``dataset``: the committed dataset the table belongs to, whose declared schema gives the roles
    ``schema`` does not carry (see the module doc).
    """

    def __init__(self, schema: pa.Schema, dataset: str | None = None):
        self.schema = schema
        self.hashed = content_columns(with_roles(schema, dataset))
        self.rows = 0
        self._a = 0
        self._b = 0

    def update(self, batch: pa.Table | pa.RecordBatch) -> None:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        a, b = _row_hash_sums(table.select(self.hashed))
        self._a = (self._a + a) & _MASK
        self._b = (self._b + b) & _MASK
        self.rows += table.num_rows

    def version(self) -> str:
        schema = _schema_fingerprint(pa.schema([self.schema.field(n) for n in self.hashed]))
        payload = f"{schema}|{self.rows}|{self._a:016x}|{self._b:016x}"
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def table_version(table: pa.Table, dataset: str | None = None) -> str:
    """Content version of an Arrow table: same rows (any order) and schema -> same version;
    provenance columns do not count (roles as in ``TableHasher``)."""
    hasher = TableHasher(table.schema, dataset)
    hasher.update(table)
    return hasher.version()


def bytes_version(named_blobs: Iterable[tuple[str, bytes]]) -> str:
    """Content version of a set of files: sha256 over (relative name, sha256 of bytes), sorted."""
    digest = hashlib.sha256()
    for name, blob in sorted((n, hashlib.sha256(b).hexdigest()) for n, b in named_blobs):
        digest.update(f"{name}\0{blob}\n".encode())
    return digest.hexdigest()[:16]


def derivation_version(**parts: object) -> str:
    """Version of an artifact named by what it was derived from (inputs, code, config).

    Used for models, whose bytes are not reproducible run to run (TF writes fresh ids), so
    two trainings from the same inputs and code get the same version id by construction.
    """
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def code_version(*modules: ModuleType | str, config: object = None) -> str:
    """Hash of the source of the given modules (or package directories) plus step config.

    A step whose inputs and code version match the existing manifest may skip (docs/datasets-and-versions.md).
    """
    digest = hashlib.sha256()
    for module in modules:
        path = Path(module if isinstance(module, str) else inspect.getfile(module))
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    if config is not None:
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]
