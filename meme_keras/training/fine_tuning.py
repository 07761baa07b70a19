"""The report's staged fine-tuning: frozen backbones, then text, then image, then both.

A stage is `{"name", "train": [], ["text"], ["image"] or ["text", "image"], "epochs",
"learning_rate"}`. Frozen stages train the head on cached features (fast); the others put the
live backbones under the head (`compose_classifier`) and feed token ids and/or decoded images,
keeping cached features for the part that is still as pretrained.

`"image_top"` instead of `"image"` fine-tunes only the image backbone's top (its last block and
head convolution, `ImageBackboneSpec.top_from`) on cached activations of the layer it starts
at: no image is decoded and the bottom never runs, so it costs about as much as a frozen stage.
Its BatchNormalization layers stay in inference mode (the usual fine-tuning practice; batches of
16 memes give poor batch statistics). Such a model takes the cut activations, which the
training sets carry; `with_image_bottom` puts one pretrained bottom under it (under all fold
models at once, after averaging) so that the saved model takes raw images.

`"text_top"` instead of `"text"` does the same for the text backbone: it fine-tunes transformer
layers `text_backbone.top_from` and up on the cached hidden states of the layers below
(`split_text_backbone`), which never run in training; `with_text_bottom` puts the frozen lower
layers back under the trained model, so the saved model takes token ids.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras

from meme_keras.backbones.adapted_text import text_preset
from meme_keras.backbones.image_backbones import (
    configured_image_size,
    load_image_backbone,
    split_image_backbone,
)
from meme_keras.backbones.text_backbones import (
    load_text_backbone,
    split_text_backbone,
    text_top_from,
)
from meme_keras.models.flatten_grid import FlattenGrid
from meme_keras.models.meme_classifier import compose_classifier
from meme_keras.pipeline.classifier_inputs import classifier_dataset, model_inputs
from meme_keras.pipeline.feature_sets import FeatureSet, image_top_layer
from meme_keras.progress import tracked
from meme_keras.training.callbacks import (
    EpochClock,
    epochs_kept,
    stage_callbacks,
    stage_monitor,
    validated_each_epoch,
)
from meme_keras.training.fitting import fit
from meme_keras.training.garbage import collect_garbage
from meme_keras.training.head_training import compile_model, fit_head

log = logging.getLogger(__name__)

STAGE_PARTS = frozenset({"text", "text_top", "image", "image_top"})
TOKEN_INPUTS = ("token_ids", "segment_ids")


def stage_parts(stage: dict) -> frozenset[str]:
    parts = frozenset(stage.get("train", []))
    if not parts <= STAGE_PARTS:
        raise ValueError(
            f"stage {stage.get('name')!r}: 'train' may list only {sorted(STAGE_PARTS)}"
        )
    return parts


class LiveBackbones:
    """The backbones a run fine-tunes, loaded once and shared by its stages."""

    def __init__(self, config: dict, parts: frozenset[str]):
        image, text = config["image_backbone"], config["text_backbone"]
        self.image_size = None if image is None else configured_image_size(image)
        self.text = self.text_top = None
        if parts & {"text", "text_top"}:
            self.text = load_text_backbone(text["name"], text_preset(text))
        if "text_top" in parts:
            top_from = text_top_from(self.text, text["top_from"])
            _, self.text_top = split_text_backbone(self.text, top_from)
        self.image = self.image_top = None
        if parts & {"image", "image_top"}:
            self.image = load_image_backbone(image["name"], image["weights"], self.image_size)
        if "image_top" in parts:
            _, self.image_top = split_image_backbone(self.image, image_top_layer(config))

    def compose(
        self,
        head: keras.Model,
        live: frozenset[str],
        features: FeatureSet,
        used: frozenset[str],
    ) -> keras.Model:
        """`head` under the `used` backbones ("text_top" and "image_top" feed cut activations
        to a backbone's top), training those in `live`."""
        if self.text is not None:
            self.text.trainable = "text" in live
            for layer in self.text.layers:
                # The heads read token features; the pooler gets no gradient.
                if layer.name == "pooled_dense":
                    layer.trainable = False
        if self.text_top is not None:
            # Layer by layer, as for the image top below.
            self.text_top.trainable = "text_top" in live
            for layer in self.text_top.layers:
                layer.trainable = "text_top" in live
        if self.image is not None:
            self.image.trainable = "image" in live
        if self.image_top is not None:
            # Layer by layer: a model cut from an inner tensor does not pass `trainable` on to
            # its layers (they are the backbone's, which tracks them).
            self.image_top.trainable = "image_top" in live
            for layer in self.image_top.layers:
                layer.trainable = "image_top" in live and not isinstance(
                    layer, keras.layers.BatchNormalization
                )
        return compose_classifier(
            head,
            text_backbone=self.text if "text" in used else None,
            image_backbone=self.image if "image" in used else None,
            text_width=features.text_features.shape[-1],
            image_shape=features.image_features.shape[1:],
            image_top=self.image_top if "image_top" in used else None,
            text_top=self.text_top if "text_top" in used else None,
            # Unique per head, so fold models can be averaged into one model.
            name=f"{head.name}_with_backbones",
        )


def all_trained_parts(config: dict) -> frozenset[str]:
    parts = frozenset().union(*(stage_parts(stage) for stage in config["stages"]))
    for whole in ("image", "text"):
        if {whole, f"{whole}_top"} <= parts:
            raise ValueError(
                f"stages may fine-tune the whole {whole} backbone or its top, not both"
            )
    return parts


def check_stages(config: dict) -> None:
    """Raises on a stage that trains unknown or conflicting parts or watches an unknown
    metric: a config error, found before any training."""
    all_trained_parts(config)
    for stage in config["stages"]:
        stage_monitor(config, stage)


def train_stages(
    train: FeatureSet,
    validation: FeatureSet | None,
    config: dict,
    num_labels: int,
    log_dir: Path | None = None,
    name: str | None = None,
    verbose: int = 0,
    stage_epochs: list[int] | None = None,
) -> keras.Model:
    """Runs every configured stage; returns the model to predict with. `stage_epochs`, if
    given, gets each stage's epochs behind the weights kept (early stopping's best epoch).

    The result is the head alone when no stage trains a backbone, else the head composed with
    every backbone that some stage trained (they differ from the cached ones now). A stage
    runs the backbones it trains and those trained before it; the others stay cached features.
    """
    parts = all_trained_parts(config)
    backbones = LiveBackbones(config, parts) if parts else None
    head = None
    trained = frozenset()
    stages = config["stages"]
    for index, stage in enumerate(tracked(stages, "stages")):
        if index:
            collect_garbage()  # the last stage's datasets, in reference cycles (`garbage`)
        started = time.perf_counter()
        stage_log = None if log_dir is None else Path(log_dir) / f"{index}_{stage['name']}"
        live = stage_parts(stage)
        if not live:
            head = fit_head(
                train,
                validation,
                config,
                stage,
                num_labels,
                stage_log,
                head,
                name,
                verbose,
                stage_epochs,
                trace_key=("stage", index),
            )
        else:
            if head is None:
                raise ValueError("the first stage must train the head on frozen features")
            used = trained | live
            model = backbones.compose(head, live, train, used)
            compile_model(model, config, stage, train.labels)
            clock = EpochClock()
            stage_validation = validated_each_epoch(stage, validation)
            callbacks = stage_callbacks(
                config, stage, stage_log, stage_validation is not None, clock
            )
            fit(
                model,
                classifier_dataset(
                    train,
                    used,
                    backbones.image_size,
                    config["batch_size"],
                    shuffle=True,
                    seed=config["seed"],
                    clock=clock,
                ),
                None
                if stage_validation is None
                else classifier_dataset(stage_validation, used, backbones.image_size, 32),
                epochs=stage["epochs"],
                callbacks=callbacks,
                verbose=verbose,
                trace_key=("stage", index),
            )
            if stage_epochs is not None:
                stage_epochs.append(epochs_kept(callbacks, stage["epochs"]))
            trained = used
        log.info(
            "stage %d/%d %s trained in %.0f s",
            index + 1,
            len(stages),
            stage["name"],
            time.perf_counter() - started,
        )
    if not parts:
        return head
    return backbones.compose(head, frozenset(), train, used=parts)


def with_image_bottom(model: keras.Model, config: dict) -> keras.Model:
    """`model` on raw images when it takes cut image activations (`image_top` runs): the
    pretrained bottom of the image backbone, which no stage trains, computes them. Fold models
    averaged into one share this single bottom, so an image goes through it once."""
    if "image_cut_features" not in model_inputs(model):
        return model
    image = config["image_backbone"]
    image_size = configured_image_size(image)
    backbone = load_image_backbone(image["name"], image["weights"], image_size)
    bottom, _ = split_image_backbone(backbone, image_top_layer(config))
    bottom.trainable = False
    return _under_bottom(
        model,
        "image_cut_features",
        {"images": keras.Input((image_size, image_size, 3), name="images")},
        lambda inputs: FlattenGrid(name="flatten_cut_grid")(bottom(inputs["images"])),
        "on_images",
    )


def _under_bottom(model, cut_name: str, new_inputs: dict, cut_of, suffix: str) -> keras.Model:
    """`model` taking `new_inputs` instead of its `cut_name` input, which `cut_of(inputs)`
    computes from them (and from the inputs `model` keeps, such as `padding_mask`)."""
    passed_on = {
        name: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=name)
        for name, tensor in model.input.items()
        if name != cut_name
    }
    inputs = {**passed_on, **new_inputs}
    outputs = model({**passed_on, cut_name: cut_of(inputs)})
    return keras.Model(inputs, outputs, name=f"{model.name}_{suffix}")


def with_text_bottom(model: keras.Model, config: dict) -> keras.Model:
    """`model` on token ids when it takes cut text activations (`text_top` runs): the lower
    layers of the (adapted) text backbone, which no stage trains, compute them, once under
    all fold models averaged."""
    if "text_cut_features" not in model_inputs(model):
        return model
    text = config["text_backbone"]
    backbone = load_text_backbone(text["name"], text_preset(text))
    bottom, _ = split_text_backbone(backbone, text_top_from(backbone, text["top_from"]))
    bottom.trainable = False
    tokens = {name: keras.Input((None,), dtype="int32", name=name) for name in TOKEN_INPUTS}
    return _under_bottom(
        model,
        "text_cut_features",
        tokens,
        lambda inputs: bottom({name: inputs[name] for name in (*TOKEN_INPUTS, "padding_mask")}),
        "on_tokens",
    )


def with_frozen_bottoms(model: keras.Model, config: dict) -> keras.Model:
    """`model` on raw images and token ids: the frozen bottoms of the backbones whose tops it
    fine-tuned put under it (see `with_image_bottom` and `with_text_bottom`)."""
    return with_image_bottom(with_text_bottom(model, config), config)
