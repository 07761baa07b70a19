"""The "caffe" input convention of keras.applications ResNet50, as a serializable layer."""

from __future__ import annotations

import keras
from keras import ops

IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="meme_keras")
class CaffePreprocessing(keras.layers.Layer):
    """RGB pixels in [0, 255] -> BGR minus the ImageNet channel means.

    Same as `keras.applications.resnet50.preprocess_input`, but a layer, so the conversion lives
    inside saved models instead of in every caller.
    """

    def call(self, images):
        bgr = ops.flip(ops.cast(images, self.compute_dtype), axis=-1)
        return bgr - ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
