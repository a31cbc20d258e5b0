"""The one feature vocabulary and the TFT ``preprocessing_fn`` (docs/architecture.md#training-and-serving).

Training (the Beam preprocess job) and serving (the exported model) both run the
``transform_fn`` analysed from this ``preprocessing_fn``, so a feature is defined here and
nowhere else.

Raw inputs are ``curated.users_clean`` columns. Every feature may be null, so each is a
``tf.io.VarLenFeature`` (a null is an empty list) and is densified inside the
``preprocessing_fn`` together with a missing flag. The label is required (only labelled rows are
training rows) and passes through unchanged.

TensorFlow is imported inside the functions that need it so that the vocabulary (names, types,
output schema) can be used without paying for the TensorFlow import (docs/architecture.md#stack-facts).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

ID_COLUMN = "source_record_id"
SPLIT_COLUMN = "split"
LABEL = "looking_for_job"

# Integer counts and ages: mean-imputed, then z-scored.
NUMERIC_FEATURES = (
    "age_years",
    "account_age_days",
    "tenure_months",
    "job_page_views_7d",
    "applications_30d",
    "resume_updated_days_ago",
    "last_login_days_ago",
)
# Vocabulary size kept per categorical feature. Fixed, with a fixed number of OOV buckets, so
# the model's one-hot input widths do not depend on the data it was analysed on.
CATEGORICAL_TOP_K = {
    "employment_status": 8,
    "signup_channel": 8,
    "source": 4,
    "country": 32,
}
CATEGORICAL_FEATURES = tuple(CATEGORICAL_TOP_K)
NUM_OOV_BUCKETS = 2
# A null category is its own token (learned like any other) rather than an OOV value, so
# "missing" and "unseen" stay distinguishable. TFT vocabularies drop empty strings, hence a name.
MISSING_CATEGORY = "__missing__"
TEXT_FEATURE = "profile_text"

RAW_FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES + (TEXT_FEATURE,)

# Arrow type of each raw feature in curated.users_clean (the TFT input is a list of it).
RAW_ARROW_TYPES: dict[str, pa.DataType] = {
    **{name: pa.int64() for name in NUMERIC_FEATURES},
    **{name: pa.string() for name in CATEGORICAL_FEATURES},
    TEXT_FEATURE: pa.string(),
}
LABEL_ARROW_TYPE = pa.int64()


def zscore_name(name: str) -> str:
    return f"{name}_z"


def missing_name(name: str) -> str:
    return f"{name}_missing"


def index_name(name: str) -> str:
    return f"{name}_idx"


TEXT_LENGTH = "profile_text_length"


def categorical_width(name: str) -> int:
    """Number of distinct indices a categorical feature can take (top_k + OOV buckets)."""
    return CATEGORICAL_TOP_K[name] + NUM_OOV_BUCKETS


def transformed_arrow_schema() -> pa.Schema:
    """Arrow schema of the ``preprocessing_fn`` outputs, one scalar per row, in a fixed order."""
    fields = []
    for name in NUMERIC_FEATURES + (TEXT_LENGTH,):
        fields.append(pa.field(zscore_name(name), pa.float32()))
        fields.append(pa.field(missing_name(name), pa.int64()))
    fields += [pa.field(index_name(name), pa.int64()) for name in CATEGORICAL_FEATURES]
    fields.append(pa.field(LABEL, LABEL_ARROW_TYPE))
    return pa.schema(fields)


def model_input_names() -> list[str]:
    """Transformed columns the model reads: everything the ``preprocessing_fn`` makes but the label."""
    return [name for name in transformed_arrow_schema().names if name != LABEL]


def raw_feature_spec(*, with_label: bool = True) -> dict[str, Any]:
    """The TFT raw feature spec: every feature a ``VarLenFeature``, the label a fixed int64.

    ``with_label=False`` is the serving spec: clients send raw records without a label.
    """
    import tensorflow as tf

    spec: dict[str, Any] = {}
    for name, arrow_type in RAW_ARROW_TYPES.items():
        spec[name] = tf.io.VarLenFeature(tf.int64 if pa.types.is_integer(arrow_type) else tf.string)
    if with_label:
        spec[LABEL] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def raw_schema():
    """The raw feature spec as a TFMD schema proto (what TFXIO and ``metadata/`` need)."""
    from tensorflow_transform.tf_metadata import schema_utils

    return schema_utils.schema_from_feature_spec(raw_feature_spec())


def _densify_with_flag(x, default_value):
    """A [batch, <=1] VarLen SparseTensor as a [batch] dense tensor and a [batch] int64 missing flag."""
    import tensorflow as tf
    import tensorflow_transform as tft

    # Fixing the second dimension to 1 also rejects rows with more than one value.
    dense = tft.sparse_tensor_to_dense_with_shape(x, [None, 1], default_value=default_value)[:, 0]
    ones = tf.SparseTensor(x.indices, tf.ones_like(x.values, dtype=tf.int64), x.dense_shape)
    present = tft.sparse_tensor_to_dense_with_shape(ones, [None, 1], default_value=0)[:, 0]
    return dense, 1 - present


def _impute_and_scale(values, name: str):
    """Z-score a [batch, <=1] float SparseTensor, imputing missing rows with the analysed mean.

    Returns (z, missing flag). Mean and standard deviation are analysed over the present values
    only; a missing row is imputed with that mean, which is exactly 0 after scaling. Scaling the
    sparse values (rather than mean-imputing first and scaling after) keeps the scale of the
    feature independent of how often it is missing, and needs one analysis pass instead of two
    (a mean, then a variance of the imputed values), which halves TFT's tracing time.
    """
    import tensorflow_transform as tft

    scaled = tft.scale_to_z_score(values, name=f"{name}_z")
    return _densify_with_flag(scaled, default_value=0.0)


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    """TFT preprocessing: z-score + mean-impute + flag numerics, vocabularies for categoricals,
    length of the profile text; the label passes through as int64."""
    import tensorflow as tf
    import tensorflow_transform as tft

    outputs: dict[str, Any] = {}
    for name in NUMERIC_FEATURES:
        x = inputs[name]
        as_float = tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32), x.dense_shape)
        outputs[zscore_name(name)], outputs[missing_name(name)] = _impute_and_scale(as_float, name)

    for name in CATEGORICAL_FEATURES:
        dense, _ = _densify_with_flag(inputs[name], default_value=MISSING_CATEGORY)
        outputs[index_name(name)] = tft.compute_and_apply_vocabulary(
            dense,
            top_k=CATEGORICAL_TOP_K[name],
            num_oov_buckets=NUM_OOV_BUCKETS,
            vocab_filename=name,
            name=f"{name}_vocab",
        )

    text = inputs[TEXT_FEATURE]
    lengths = tf.SparseTensor(
        text.indices, tf.cast(tf.strings.length(text.values, unit="UTF8_CHAR"), tf.float32), text.dense_shape
    )
    outputs[zscore_name(TEXT_LENGTH)], outputs[missing_name(TEXT_LENGTH)] = _impute_and_scale(
        lengths, TEXT_LENGTH
    )

    outputs[LABEL] = inputs[LABEL]
    return outputs
