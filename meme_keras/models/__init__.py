"""Heads and composed models; importing the package registers the custom layers that saved
`.keras` files name (`FlattenGrid`, `MaskedMeanPooling`, `SpanTaggerHead`)."""

from meme_keras.models.flatten_grid import FlattenGrid
from meme_keras.models.masked_mean_pooling import MaskedMeanPooling
from meme_keras.models.span_tagger import SpanTaggerHead

__all__ = ["FlattenGrid", "MaskedMeanPooling", "SpanTaggerHead"]
