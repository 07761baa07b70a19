"""Fold after fold, the same stage models: trace each one's steps once.

Every fold of a run (and its refit) builds the same stage models anew, and `model.fit` traces
each new model's train and test steps: on 2 cores about a third of a fine-tuned run's time, for
graphs that differ only in their variables. Keras cannot hand a traced step to another model,
so inside `reusing_traces()` a fit under a key already seen runs on the first model fitted under
that key instead: the new model's variables (weights and random-seed states) are copied in, its
optimizer is put back to its initial state, and after the fit the variables are copied back to
the new model, and the first model's own values restored. The new model ends as if it had been
fitted itself; only the tracing is saved. Predictions reuse traces the same way.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

import keras
import numpy as np

from meme_keras.training.distribution import is_multi_worker

log = logging.getLogger(__name__)

_TRACED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("traced", default=None)


@dataclass
class _Traced:
    model: keras.Model
    initial_optimizer_state: list[np.ndarray]
    signature: tuple


@contextlib.contextmanager
def reusing_traces() -> Iterator[None]:
    """Within the block, fits given a `trace_key` reuse the traced model of an earlier fit
    under the same key (see the module's docstring)."""
    token = _TRACED.set({})
    try:
        yield
    finally:
        _TRACED.reset(token)


def fit_reusing_trace(
    key: Hashable | None, model: keras.Model, fit_model: Callable[[keras.Model], object]
):
    """`fit_model(model)`, on the model traced under `key` when one with the same variables,
    trainable variables, optimizer and loss is there (outside `reusing_traces`, or without a
    key, on `model` itself). Returns what `fit_model` returns."""
    cache = _TRACED.get()
    if cache is None or key is None:
        return fit_model(model)
    signature = _signature(model)
    traced = cache.get(key)
    if traced is None or traced.signature != signature:
        if traced is not None:
            log.debug("trace %r: a different model, traced anew", key)
        with model.distribute_strategy.scope():  # mirrored optimizer state under a strategy
            model.optimizer.build(model.trainable_variables)
        initial = _values(model.optimizer.variables)
        result = fit_model(model)
        cache[key] = _Traced(model, initial, signature)
        return result
    log.debug("trace %r: the traced model fits in place of a new one", key)
    target = traced.model
    with _holding_values_of(target, model):
        _assign(target.optimizer.variables, traced.initial_optimizer_state)
        _copy_trainable_flags(model, target)
        result = fit_model(target)
        _assign(model.variables, _values(target.variables))
    return result


def predict_reusing_trace(
    key: Hashable | None, model: keras.Model, predict: Callable[[keras.Model], np.ndarray]
) -> np.ndarray:
    """`predict(model)`, on the model that predicted first under `key` (with `model`'s
    variables) when it has the same layers and variables; as `fit_reusing_trace`. Not across
    workers, where each prediction traces a function of its own anyway."""
    cache = _TRACED.get()
    if cache is None or key is None or is_multi_worker():
        return predict(model)
    signature = _structure(model)
    traced = cache.get(key)
    if traced is None or traced.signature != signature:
        result = predict(model)
        cache[key] = _Traced(model, [], signature)
        return result
    with _holding_values_of(traced.model, model):
        return predict(traced.model)


@contextlib.contextmanager
def _holding_values_of(target: keras.Model, model: keras.Model) -> Iterator[None]:
    """`target` with `model`'s variable values inside the block, its own ones after it."""
    own_values = _values(target.variables)
    _assign(target.variables, _values(model.variables))
    try:
        yield
    finally:
        _assign(target.variables, own_values)


def _structure(model: keras.Model) -> tuple:
    return (
        tuple(type(layer).__name__ for layer in model._flatten_layers()),
        tuple((tuple(v.shape), str(v.dtype)) for v in model.variables),
    )


def _signature(model: keras.Model) -> tuple:
    return (
        *_structure(model),
        tuple(tuple(v.shape) for v in model.trainable_variables),
        _described({k: v for k, v in model.optimizer.get_config().items() if k != "name"}),
        _described(keras.saving.serialize_keras_object(model.loss)),
    )


def _described(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _values(variables: list) -> list[np.ndarray]:
    return [np.array(variable) for variable in variables]


def _assign(variables: list, values: list[np.ndarray]) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _copy_trainable_flags(source: keras.Model, target: keras.Model) -> None:
    # The traced steps read these flags again if they are ever traced anew (an input shape
    # not seen before): make them the new model's. Parents come before their layers, whose
    # flags they would overwrite.
    for source_layer, target_layer in zip(
        source._flatten_layers(), target._flatten_layers(), strict=True
    ):
        target_layer.trainable = source_layer.trainable
