"""Exports a run as a SavedModel that takes raw memes: encoded image bytes and text strings.

The serving signature decodes and resizes the images (empty bytes: no image, where the run
trained on memes without one), tokenizes the texts with the backbone's own keras-hub
tokenizer (in-graph, tensorflow_text ops: a loader needs `import tensorflow_text`), runs both
backbones and the head, and applies the tuned thresholds. Span runs export through
`meme_keras.export.span_saved_model`.
"""

from __future__ import annotations

from pathlib import Path

import keras_hub
import tensorflow as tf

from meme_keras.backbones.adapted_text import text_preset
from meme_keras.backbones.image_backbones import configured_image_size, load_image_backbone
from meme_keras.backbones.text_backbones import load_text_backbone, load_text_tokenizer
from meme_keras.data.image_pipeline import decode_and_resize
from meme_keras.export.serving_graph import KerasParts, assert_no_rows, text_model_inputs
from meme_keras.export.span_saved_model import RawTextSpanTagger
from meme_keras.inference import load
from meme_keras.inference.span_model import SpanModel
from meme_keras.inference.technique_model import TechniqueModel

SIGNATURE_INPUTS = (
    tf.TensorSpec([None], tf.string, name="image_bytes"),
    tf.TensorSpec([None], tf.string, name="text"),
)


def image_signature_matches(encoded: tf.Tensor) -> tf.Tensor:
    """bool [batch]: the bytes start as a JPEG, PNG, GIF, BMP or WebP file does."""

    padded = encoded + b"\0" * 12  # substr fails on a position past the end

    def starts(offset, magic):
        return tf.equal(tf.strings.substr(padded, offset, len(magic)), magic)

    return tf.reduce_any(
        tf.stack(
            [
                starts(0, b"\xff\xd8\xff"),
                starts(0, b"\x89PNG\r\n\x1a\n"),
                starts(0, b"GIF87a"),
                starts(0, b"GIF89a"),
                starts(0, b"BM"),
                tf.logical_and(starts(0, b"RIFF"), starts(8, b"WEBP")),
            ]
        ),
        axis=0,
    )


def apply_thresholds_in_graph(probabilities, thresholds, min_labels_per_meme: int):
    """Multi-hot int32 decisions; with `min_labels_per_meme` >= 1 the top label is always kept
    (the same rule as `meme_keras.thresholds.apply_thresholds`)."""
    above = probabilities >= thresholds
    if min_labels_per_meme >= 1:
        top = tf.one_hot(tf.argmax(probabilities, axis=-1), tf.shape(probabilities)[-1]) > 0
        empty = tf.logical_not(tf.reduce_any(above, axis=-1, keepdims=True))
        above = tf.logical_or(above, tf.logical_and(empty, top))
    return tf.cast(above, tf.int32)


class RawMemeClassifier(tf.Module):
    """Image bytes + text -> probabilities, decisions and technique names, all in one graph.

    The tokenizer always runs here; each backbone runs here only when the run's model takes
    that modality's cached features (else the model holds its fine-tuned backbone).
    """

    def __init__(self, predictor: TechniqueModel):
        super().__init__(name="raw_meme_classifier")
        config = predictor.config
        image, text = config["image_backbone"], config["text_backbone"]
        self.text_only = image is None  # a text_techniques run: image_bytes are ignored
        # Empty image_bytes mean "no image": a black image, for runs that trained on memes
        # without one (`predictor.needs_images` is False); the others refuse them.
        self.needs_images = predictor.needs_images
        self.image_size = None if self.text_only else configured_image_size(image)
        wanted = set(predictor.model.input)
        # Cached-feature inputs are computed here by the frozen backbones; fine-tuned backbones
        # are already inside the run's model.
        image_backbone = text_backbone = None
        if "image_features" in wanted and not self.text_only:
            image_backbone = load_image_backbone(image["name"], image["weights"], self.image_size)
        if "text_features" in wanted:
            text_backbone = load_text_backbone(text["name"], text_preset(text))
        self.parts = KerasParts(
            model=predictor.model, image_backbone=image_backbone, text_backbone=text_backbone
        )
        self.part_variables = self.parts.variables
        tokenizer = load_text_tokenizer(text["name"], text_preset(text))
        self.packer = keras_hub.layers.StartEndPacker(
            start_value=tokenizer.cls_token_id,
            end_value=tokenizer.sep_token_id,
            pad_value=tokenizer.pad_token_id,
            sequence_length=text["sequence_length"],
            return_padding_mask=True,
        )
        self.tokenizer = tokenizer
        self.thresholds = tf.constant(predictor.thresholds.thresholds, tf.float32)
        self.min_labels_per_meme = predictor.thresholds.min_labels_per_meme
        self.techniques = tf.constant(list(predictor.techniques))

    def input_checks(self, image_bytes, text) -> list:
        """Assertions on the raw batch, each failing with the bad rows named: empty texts (as
        the CLI refuses them); for multimodal runs, a different number of images and texts,
        bytes that are no image file, and empty bytes where the run needs an image."""
        checks = [
            assert_no_rows(tf.equal(tf.strings.length(tf.strings.strip(text)), 0), "empty text")
        ]
        if self.text_only:
            return checks
        checks.append(
            tf.debugging.assert_equal(
                tf.shape(image_bytes)[0],
                tf.shape(text)[0],
                message="image_bytes and text must hold one entry per meme, in the same order",
            )
        )
        empty = tf.equal(tf.strings.length(image_bytes), 0)
        checks.append(
            assert_no_rows(
                tf.logical_and(
                    tf.logical_not(empty), tf.logical_not(image_signature_matches(image_bytes))
                ),
                "image_bytes that are not a JPEG, PNG, GIF, BMP or WebP file",
            )
        )
        if self.needs_images:
            checks.append(
                assert_no_rows(empty, "this model needs an image for every meme; empty image_bytes")
            )
        return checks

    @tf.function(input_signature=SIGNATURE_INPUTS)
    def serve(self, image_bytes, text):
        wanted = set(self.parts.model.input)
        with tf.control_dependencies(self.input_checks(image_bytes, text)):
            image_bytes, text = tf.identity(image_bytes), tf.identity(text)
        token_ids, padding_mask = self.packer(self.tokenizer(text))
        padding_mask = tf.cast(padding_mask, tf.int32)  # keras-hub gives bool; serve int32
        # Cut the batch to its longest text: the packer pads to the full sequence length, and
        # the encoder's cost grows with it (median text: 21 tokens of 128).
        longest = tf.reduce_max(tf.reduce_sum(padding_mask, axis=1))
        token_ids, padding_mask = token_ids[:, :longest], padding_mask[:, :longest]
        inputs = text_model_inputs(wanted, token_ids, padding_mask, self.parts.get("text_backbone"))
        if self.text_only:
            # The constant "no image" cell the text heads were trained beside.
            inputs["image_features"] = tf.zeros([tf.shape(token_ids)[0], 1, 1])
            return self._decide(inputs)
        images = tf.map_fn(
            lambda encoded: decode_and_resize(encoded, self.image_size),
            image_bytes,
            fn_output_signature=tf.TensorSpec([self.image_size, self.image_size, 3], tf.float32),
        )
        if "images" in wanted:
            inputs["images"] = images
        if "image_features" in wanted:
            grid = self.parts.image_backbone(images, training=False)
            inputs["image_features"] = tf.reshape(grid, [tf.shape(grid)[0], -1, grid.shape[-1]])
        return self._decide(inputs)

    def _decide(self, inputs):
        probabilities = self.parts.model(inputs, training=False)
        decisions = apply_thresholds_in_graph(
            probabilities, self.thresholds, self.min_labels_per_meme
        )
        labels = tf.where(decisions > 0, self.techniques, tf.constant(""))
        return {"probabilities": probabilities, "decisions": decisions, "labels": labels}


def export_run(run_dir: str | Path, output_dir: str | Path) -> Path:
    """Writes the SavedModel (signature `serving_default`) for the run in `run_dir`: a
    `RawMemeClassifier` for technique runs, a `RawTextSpanTagger` for span runs."""
    model = load(run_dir)
    if isinstance(model, SpanModel):
        module = RawTextSpanTagger(model)
    elif isinstance(model, TechniqueModel):
        module = RawMemeClassifier(model)
    else:
        raise ValueError(f"{run_dir}: a {model.task} run has no SavedModel export yet")
    output_dir = Path(output_dir)
    tf.saved_model.save(module, str(output_dir), signatures={"serving_default": module.serve})
    return output_dir
