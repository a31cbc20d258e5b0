"""Arrow tables of users in the shapes TFT and the serving model take (pure, vectorised).

TFT reads Arrow RecordBatches whose columns are lists (one list per row and feature, docs/architecture.md#stack-facts);
the serving model reads serialized ``tf.Example``s. Both are built here from the same
``curated.users_clean``-shaped table, so batch and serving see identical raw values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.features import LABEL, LABEL_ARROW_TYPE, RAW_ARROW_TYPES, RAW_FEATURES


def _list_value_type(arrow_type: pa.DataType) -> pa.DataType:
    # tf.Example bytes features and the TFT tensor adapter take binary, not utf8, values.
    return pa.binary() if pa.types.is_string(arrow_type) else arrow_type


def to_list_array(column: pa.Array | pa.ChunkedArray, value_type: pa.DataType) -> pa.ListArray:
    """One list per row: ``[value]`` for a value, ``[]`` for a null (never a null list)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = column.cast(value_type)
    present = pc.is_valid(column).to_numpy(zero_copy_only=False).astype(np.int32)
    offsets = np.zeros(len(column) + 1, dtype=np.int32)
    np.cumsum(present, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), column.drop_null())


def raw_arrow_schema(*, with_label: bool = True, passthrough: Sequence[str] = ()) -> pa.Schema:
    """Schema of the batches :func:`raw_record_batch` makes (the TFT input ``arrow_schema``)."""
    fields = [pa.field(name, pa.list_(_list_value_type(RAW_ARROW_TYPES[name]))) for name in RAW_FEATURES]
    if with_label:
        fields.append(pa.field(LABEL, pa.list_(LABEL_ARROW_TYPE)))
    fields += [pa.field(name, pa.list_(pa.string())) for name in passthrough]
    return pa.schema(fields)


def raw_record_batch(
    table: pa.Table, *, with_label: bool = True, passthrough: Sequence[str] = ()
) -> pa.RecordBatch:
    """The raw features (and label, and ``passthrough`` string columns) as list columns.

    ``table`` has the ``curated.users_clean`` types for the features; extra columns are ignored.
    """
    schema = raw_arrow_schema(with_label=with_label, passthrough=passthrough)
    columns = [to_list_array(table.column(field.name), field.type.value_type) for field in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def conform_users(table: pa.Table) -> pa.Table:
    """The raw feature columns of arbitrary user records, cast to the clean types.

    Columns the records do not have become all-null (the model imputes them); ``source_record_id``
    is kept (null if absent) so predictions can be joined back.
    """
    columns = {"source_record_id": _column_or_nulls(table, "source_record_id", pa.string())}
    for name in RAW_FEATURES:
        columns[name] = _column_or_nulls(table, name, RAW_ARROW_TYPES[name])
    return pa.table(columns)


def _column_or_nulls(table: pa.Table, name: str, arrow_type: pa.DataType) -> pa.ChunkedArray | pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, arrow_type)
    return table.column(name).cast(arrow_type)


def encode_examples(table: pa.Table) -> list[bytes]:
    """Serialized ``tf.Example``s of the raw features of each row (no label), for serving.

    Nulls become empty features, which the serving parser reads as missing, exactly as the
    empty lists TFT sees in batch.
    """
    from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

    if table.num_rows == 0:
        return []
    return RecordBatchToExamplesEncoder().encode(raw_record_batch(table, with_label=False))


def flatten_singletons(batch: pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """TFT output batches (one-element list columns) as a table of scalars in ``schema``."""
    columns = []
    for field in schema:
        column = batch.column(field.name)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            lengths = pc.list_value_length(column)
            if pc.any(pc.not_equal(lengths, 1)).as_py() or column.null_count:
                raise ValueError(f"{field.name}: expected exactly one value per row")
            column = column.flatten()
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)
