"""One model from several with the same inputs (fold models): their outputs averaged, or
their weights."""

from __future__ import annotations

import keras
import numpy as np


def average_models(
    models: list[keras.Model],
    name: str = "fold_ensemble",
    inputs: dict | None = None,
    output_name: str = "probabilities",
) -> keras.Model:
    """The mean of the `models`' outputs, as one model; a single model is returned as it is.

    `inputs`: the ensemble's `keras.Input`s, for models that do not expose theirs (subclassed
    heads); by default, copies of the first model's.
    """
    if len(models) == 1:
        return models[0]
    if inputs is None:
        inputs = {
            input_name: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=input_name)
            for input_name, tensor in models[0].input.items()
        }
    outputs = keras.layers.Average(name=output_name)([model(inputs) for model in models])
    return keras.Model(inputs, outputs, name=name)


def weight_averaged_model(models: list[keras.Model], name: str = "weight_average") -> keras.Model:
    """One network whose weights are the mean of the `models`' (a "model soup"): the models
    must share one architecture and, for the mean to make sense, one starting point (the
    same pretrained backbone, the same initial head). Costs one model's compute, not n.

    Keras has no weight averaging of separate models (its `EMA` averages one model's weights
    over steps). Integer variables (e.g. dropout seed states) are taken from the first model.
    """
    if not models:
        raise ValueError("no models to average")
    shapes = [[tuple(weight.shape) for weight in model.weights] for model in models]
    if any(shape != shapes[0] for shape in shapes):
        raise ValueError("the models differ in architecture: their weights cannot be averaged")
    averaged = keras.models.clone_model(models[0])
    averaged.name = name
    weights = []
    for values in zip(*(model.get_weights() for model in models), strict=True):
        first = values[0]
        if np.issubdtype(first.dtype, np.floating):
            weights.append(np.mean(np.stack(values), axis=0).astype(first.dtype))
        else:
            weights.append(first)
    averaged.set_weights(weights)
    return averaged
