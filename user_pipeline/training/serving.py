"""The serving export: raw tf.Examples in, probabilities out, through the same transform_fn.

Exported with ``tf.saved_model.save`` of a ``tf.Module`` (docs/architecture.md#stack-facts: not Keras'
``model.save(save_format='tf')``, which breaks with TFT's Keras 2 switch).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras

from transforms import features

EXAMPLES_SPEC = tf.TensorSpec([None], tf.string, name="examples")


class JobSeekerServing(tf.Module):
    """The trained model behind the analysed TFT transform, parsing raw ``tf.Example``s."""

    def __init__(self, model: tf_keras.Model, transform_output: tft.TFTransformOutput):
        super().__init__()
        self.model = model
        # An attribute, so the saved model tracks the layer's assets (vocabulary files).
        self.tft_layer = transform_output.transform_features_layer()

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def transform_features(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        """The transformed features of raw examples (without a label), as batch training saw them."""
        raw = tf.io.parse_example(examples, features.raw_feature_spec(with_label=False))
        return self.tft_layer(raw)

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def serving_default(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        """P(looking for a job) per raw example."""
        transformed = self.transform_features(examples)
        probability = self.model({name: transformed[name] for name in features.model_input_names()})
        return {"probability": tf.reshape(probability, [-1])}


def export_serving_model(model: tf_keras.Model, transform_fn_dir: str, export_dir: str) -> None:
    """Save the serving SavedModel (signatures ``serving_default`` and ``transform_features``)."""
    module = JobSeekerServing(model, tft.TFTransformOutput(transform_fn_dir))
    tf.saved_model.save(
        module,
        export_dir,
        signatures={
            "serving_default": module.serving_default.get_concrete_function(),
            "transform_features": module.transform_features.get_concrete_function(),
        },
    )
