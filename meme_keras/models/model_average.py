"""One model that averages the outputs of several models with the same inputs (fold models)."""

from __future__ import annotations

import keras


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
