"""The fixed model: one small hidden layer over the transformed features (Keras 2, tf_keras).

Data-centric work holds the model fixed and changes the data, so nothing here is tuned per run;
input widths come from the feature vocabulary (fixed top_k + OOV buckets), not from the data.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tf_keras

from transforms import features

HIDDEN_UNITS = 16


def build_model(learning_rate: float) -> tf_keras.Model:
    """A compiled Keras model taking a dict of transformed features, returning P(looking for job)."""
    inputs: dict[str, tf_keras.Input] = {}
    parts = []
    for name in features.NUMERIC_FEATURES + (features.TEXT_LENGTH,):
        z = inputs[features.zscore_name(name)] = tf_keras.Input(
            shape=(), dtype=tf.float32, name=features.zscore_name(name)
        )
        missing = inputs[features.missing_name(name)] = tf_keras.Input(
            shape=(), dtype=tf.int64, name=features.missing_name(name)
        )
        parts += [tf_keras.layers.Reshape((1,))(z), tf_keras.layers.Reshape((1,))(tf.cast(missing, tf.float32))]
    for name in features.CATEGORICAL_FEATURES:
        index = inputs[features.index_name(name)] = tf_keras.Input(
            shape=(), dtype=tf.int64, name=features.index_name(name)
        )
        parts.append(
            tf_keras.layers.CategoryEncoding(num_tokens=features.categorical_width(name), output_mode="one_hot")(
                index
            )
        )
    hidden = tf_keras.layers.Dense(HIDDEN_UNITS, activation="relu")(tf_keras.layers.Concatenate()(parts))
    output = tf_keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = tf_keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
    )
    return model


def model_inputs(table: pa.Table) -> dict[str, np.ndarray]:
    """The model's input arrays from a ``features.users_transformed`` table."""
    return {name: table.column(name).to_numpy() for name in features.model_input_names()}


def labels(table: pa.Table) -> np.ndarray:
    return table.column(features.LABEL).to_numpy()
