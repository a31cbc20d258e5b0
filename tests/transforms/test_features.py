"""The feature vocabulary, the TFT preprocessing_fn, and the pure helpers feeding TFT.

Pure tests (no TensorFlow) cover the Arrow conversions and the label/split logic of
``transforms.training_set`` (kept here because they define which rows the features are made
from); ``tf``-marked tests analyse a handful of rows with TFT in-process.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from transforms import features, tft_inputs, training_set
from transforms.features import ID_COLUMN, LABEL, SPLIT_COLUMN


def users_table(**columns) -> pa.Table:
    """A users table with the raw feature columns (all null unless given) and ids u0, u1, ..."""
    n = len(next(iter(columns.values())))
    data = {ID_COLUMN: pa.array([f"u{i}" for i in range(n)], pa.string())}
    for name in features.RAW_FEATURES:
        data[name] = pa.array(columns.get(name, [None] * n), features.RAW_ARROW_TYPES[name])
    if LABEL in columns:
        data[LABEL] = pa.array(columns[LABEL], pa.int64())
    return pa.table(data)


# -- Arrow conversions (pure) --------------------------------------------------------------


def test_to_list_array_makes_nulls_empty_lists_with_correct_offsets():
    lists = tft_inputs.to_list_array(pa.chunked_array([[5, None], [None, 7, 8]]), pa.int64())
    assert lists.to_pylist() == [[5], [], [], [7], [8]]
    assert lists.offsets.to_pylist() == [0, 1, 1, 1, 2, 3]
    assert lists.null_count == 0


def test_raw_record_batch_has_the_tft_input_types():
    table = users_table(age_years=[30, None], country=["GB", None], looking_for_job=[1, 0])
    table = table.append_column(SPLIT_COLUMN, pa.array(["train", "dev"]))
    batch = tft_inputs.raw_record_batch(table, passthrough=(ID_COLUMN, SPLIT_COLUMN))
    assert batch.schema == tft_inputs.raw_arrow_schema(passthrough=(ID_COLUMN, SPLIT_COLUMN))
    assert batch.schema.field("country").type == pa.list_(pa.binary())
    assert batch.column("age_years").to_pylist() == [[30], []]
    assert batch.column("country").to_pylist() == [[b"GB"], []]
    assert batch.column(LABEL).to_pylist() == [[1], [0]]
    assert batch.column(ID_COLUMN).to_pylist() == [["u0"], ["u1"]]


def test_conform_users_fills_missing_columns_with_nulls_and_casts():
    records = pa.table({"source_record_id": ["a", "b"], "age_years": ["31", None], "country": ["GB", "FR"]})
    users = tft_inputs.conform_users(records)
    assert users.column_names == [ID_COLUMN, *features.RAW_FEATURES]
    assert users.column("age_years").to_pylist() == [31, None]
    assert users.column("tenure_months").type == pa.int64()
    assert users.column("tenure_months").null_count == 2


def test_flatten_singletons_rejects_rows_without_exactly_one_value():
    schema = pa.schema([("x", pa.float32())])
    ok = pa.RecordBatch.from_pydict({"x": pa.array([[1.0], [2.0]], pa.large_list(pa.float32()))})
    assert tft_inputs.flatten_singletons(ok, schema).column("x").to_pylist() == [1.0, 2.0]
    for bad_row in ([], [1.0, 2.0], None):
        bad = pa.RecordBatch.from_pydict({"x": pa.array([[1.0], bad_row], pa.list_(pa.float32()))})
        with pytest.raises(ValueError, match="exactly one value"):
            tft_inputs.flatten_singletons(bad, schema)


def test_transformed_schema_covers_every_feature_once():
    names = features.transformed_arrow_schema().names
    assert len(names) == len(set(names)) == 2 * (len(features.NUMERIC_FEATURES) + 1) + len(
        features.CATEGORICAL_FEATURES
    ) + 1
    for name in (*features.NUMERIC_FEATURES, features.TEXT_LENGTH):
        assert {features.zscore_name(name), features.missing_name(name)} <= set(names), name
    assert {features.index_name(name) for name in features.CATEGORICAL_FEATURES} <= set(names)
    assert LABEL not in features.model_input_names()


# -- which rows, which split (pure) ---------------------------------------------------------


def test_training_window_ends_on_ds():
    assert training_set.training_window("2026-03-01", 3) == ["2026-02-27", "2026-02-28", "2026-03-01"]


def test_latest_outcome_wins_and_unlabelled_outcomes_are_ignored():
    outcomes = pa.table(
        {
            ID_COLUMN: ["a", "a", "b", "c"],
            LABEL: pa.array([0, 1, None, 1], pa.int64()),
            "observed_date": [date(2026, 1, 2), date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 1)],
        }
    )
    latest = training_set.latest_outcomes(outcomes).sort_by(ID_COLUMN)
    assert latest.to_pydict() == {ID_COLUMN: ["a", "c"], LABEL: [0, 1]}


def test_attach_labels_keeps_order_and_counts_the_unlabelled():
    users = pa.table({ID_COLUMN: pa.array(["x", None, "c", "a", "b"], pa.string()), "v": [1, 2, 3, 4, 5]})
    outcomes = pa.table({ID_COLUMN: pa.array(["a", "b", "c", None], pa.string()), LABEL: [1, 0, 1, 1]})
    labelled, unlabelled = training_set.attach_labels(users, outcomes)
    assert labelled.to_pydict() == {ID_COLUMN: ["c", "a", "b"], "v": [3, 4, 5], LABEL: [1, 1, 0]}
    assert unlabelled == 2


# -- the preprocessing_fn, analysed by TFT in-process ---------------------------------------

TRAIN_ROWS = dict(
    age_years=[20, 30, None, 40, 50, None, 60, 70],
    employment_status=["employed", "employed", "employed", "student", "student", None, "employed", "retired"],
    profile_text=["abc", None, "abcdef", "a", "ab", "abcd", None, "abc"],
    looking_for_job=[0, 1, 0, 1, 1, 0, 0, 1],
)


@pytest.fixture(scope="module")
def transform_output(tmp_path_factory):
    """TFT's analysis of TRAIN_ROWS through Beam (DirectRunner), loaded back as TFTransformOutput."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam

    from user_pipeline.config import load_config
    from user_pipeline.steps.harness import pipeline_options

    out_dir = str(tmp_path_factory.mktemp("transform_fn"))
    batch = tft_inputs.raw_record_batch(users_table(**TRAIN_ROWS))
    with (
        beam.Pipeline(options=pipeline_options(load_config(), [])) as pipeline,
        tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft_tmp"))),
    ):
        transform_fn = (pipeline | beam.Create([batch]), tensor_adapter_config()) | tft_beam.AnalyzeDataset(
            features.preprocessing_fn
        )
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return tft.TFTransformOutput(out_dir)


def tensor_adapter_config():
    from tfx_bsl.tfxio import tensor_representation_util
    from tfx_bsl.tfxio.tensor_adapter import TensorAdapterConfig

    return TensorAdapterConfig(
        tft_inputs.raw_arrow_schema(),
        tensor_representation_util.InferTensorRepresentationsFromSchema(features.raw_schema()),
    )


def transform(transform_output, table: pa.Table) -> dict[str, np.ndarray]:
    """Transform rows eagerly with the analysed transform_fn (the path serving takes)."""
    from tfx_bsl.tfxio.tensor_adapter import TensorAdapter

    tensors = TensorAdapter(tensor_adapter_config()).ToBatchTensors(tft_inputs.raw_record_batch(table))
    return {name: value.numpy() for name, value in transform_output.transform_raw_features(tensors).items()}


@pytest.mark.tf
def test_numerics_are_z_scored_on_present_values_and_missing_ones_imputed_at_the_mean(transform_output):
    out = transform(transform_output, users_table(**TRAIN_ROWS))
    z, missing = out["age_years_z"], out["age_years_missing"]
    present = np.array([v is not None for v in TRAIN_ROWS["age_years"]])
    assert missing.tolist() == (~present).astype(int).tolist()
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[present].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(z[present].std(), 1.0, atol=1e-6)
    # Imputed with the analysed mean (45), which is 0 after scaling; a new row at the mean is 0 too.
    assert z[~present].tolist() == [0.0, 0.0]
    assert transform(transform_output, users_table(age_years=[45], looking_for_job=[0]))["age_years_z"][0] == 0.0
    # A feature never present in training (tenure_months) is all imputed: 0, flagged missing.
    assert out["tenure_months_z"].tolist() == [0.0] * 8
    assert out["tenure_months_missing"].tolist() == [1] * 8


@pytest.mark.tf
def test_text_length_is_scaled_with_a_missing_flag(transform_output):
    out = transform(transform_output, users_table(**TRAIN_ROWS))
    assert out["profile_text_length_missing"].tolist() == [0, 1, 0, 0, 0, 0, 1, 0]
    lengths = np.array([3, 6, 1, 2, 4, 3], dtype=np.float32)
    expected = (lengths - lengths.mean()) / lengths.std()
    np.testing.assert_allclose(out["profile_text_length_z"][out["profile_text_length_missing"] == 0], expected,
                               rtol=1e-6)


@pytest.mark.tf
def test_categoricals_use_a_vocabulary_with_a_missing_token_and_oov_buckets(transform_output):
    vocabulary = [token.decode() for token in transform_output.vocabulary_by_name("employment_status")]
    assert vocabulary[0] == "employed"  # most frequent first
    assert features.MISSING_CATEGORY in vocabulary
    rows = users_table(employment_status=["employed", None, "astronaut"], looking_for_job=[0, 0, 0])
    index = transform(transform_output, rows)["employment_status_idx"]
    assert index[0] == 0
    assert index[1] == vocabulary.index(features.MISSING_CATEGORY)
    assert len(vocabulary) <= index[2] < len(vocabulary) + features.NUM_OOV_BUCKETS
    assert len(vocabulary) + features.NUM_OOV_BUCKETS <= features.categorical_width("employment_status")


@pytest.mark.tf
def test_label_passes_through(transform_output):
    out = transform(transform_output, users_table(**TRAIN_ROWS))
    assert out[LABEL].tolist() == TRAIN_ROWS["looking_for_job"]
    assert set(out) == set(features.transformed_arrow_schema().names)


@pytest.mark.tf
def test_examples_round_trip_through_the_serving_parse_spec():
    import tensorflow as tf

    table = users_table(
        age_years=[31, None], country=["GB", None], profile_text=["héllo", None], looking_for_job=[1, 0]
    )
    examples = tft_inputs.encode_examples(table)
    parsed = tf.io.parse_example(examples, features.raw_feature_spec(with_label=False))
    assert LABEL not in parsed
    expected_values = {"age_years": [31], "country": [b"GB"], "profile_text": ["héllo".encode()]}
    for name, values in expected_values.items():
        # Only row 0 has a value: the null in row 1 arrives as an empty (missing) feature.
        assert parsed[name].indices.numpy().tolist() == [[0, 0]]
        assert parsed[name].values.numpy().tolist() == values
