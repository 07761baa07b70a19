"""The feature cache: atomic writes, and files that are damaged, truncated or computed from
something else are detected on read and recomputed, never used."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest

from meme_keras.backbones import feature_cache
from meme_keras.backbones.feature_cache import cached, fingerprint, load_arrays, save_arrays

KEY = "k" * 64


def arrays():
    rng = np.random.default_rng(0)
    return {
        "features": rng.normal(size=(3, 4, 5)).astype(np.float32),
        "ids": np.arange(6, dtype=np.int32),
    }


class Compute:
    """A compute function that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return arrays()


def assert_same(got, expected):
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].dtype == expected[name].dtype
        assert np.array_equal(got[name], expected[name])


def cache_file(tmp_path):
    (path,) = tmp_path.glob("*.npz")
    return path


def test_a_hit_returns_the_same_arrays_without_computing(tmp_path):
    compute = Compute()
    first = cached("image", KEY, compute, tmp_path)
    second = cached("image", KEY, compute, tmp_path)
    assert compute.calls == 1
    assert_same(second, first)
    assert_same(second, arrays())


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    def fail_halfway(stream, **_):
        stream.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(feature_cache.np, "savez", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_arrays(tmp_path / "image.npz", arrays(), KEY)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_old_file(tmp_path, monkeypatch):
    save_arrays(tmp_path / "image.npz", arrays(), KEY)
    before = (tmp_path / "image.npz").read_bytes()
    monkeypatch.setattr(feature_cache.np, "savez", lambda *_, **__: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        save_arrays(tmp_path / "image.npz", {"features": np.zeros(2)}, KEY)
    assert [p.name for p in tmp_path.iterdir()] == ["image.npz"]
    assert (tmp_path / "image.npz").read_bytes() == before


def test_a_flipped_byte_in_the_array_data_is_recomputed(tmp_path, caplog):
    compute = Compute()
    cached("image", KEY, compute, tmp_path)
    path = cache_file(tmp_path)
    data = bytearray(path.read_bytes())
    # np.savez stores arrays uncompressed: the array's bytes are in the file as they are.
    start = bytes(data).index(arrays()["features"].tobytes())
    data[start + 17] ^= 0x01
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger=feature_cache.__name__):
        result = cached("image", KEY, compute, tmp_path)
    assert compute.calls == 2
    assert_same(result, arrays())
    assert "recomputing" in caplog.text and str(path) in caplog.text
    assert_same(load_arrays(path, KEY), arrays())  # the damaged file was replaced


def test_data_that_fails_its_checksum_is_recomputed(tmp_path, caplog):
    # A well-formed file whose data no longer matches its manifest (the zip's own CRC is
    # right): only the manifest's SHA-256 catches it.
    save_arrays(tmp_path / "image.npz", arrays(), KEY)
    with np.load(tmp_path / "image.npz") as stored:
        manifest = stored["__manifest__"]
    tampered = arrays()
    tampered["features"][0, 0, 0] += 1.0
    np.savez(tmp_path / "image.npz", __manifest__=manifest, **tampered)
    with caplog.at_level(logging.WARNING, logger=feature_cache.__name__):
        assert load_arrays(tmp_path / "image.npz", KEY) is None
    assert "fails its checksum" in caplog.text
    assert not (tmp_path / "image.npz").exists()


def test_a_changed_dtype_or_shape_fails_the_checksum(tmp_path):
    save_arrays(tmp_path / "image.npz", arrays(), KEY)
    with np.load(tmp_path / "image.npz") as stored:
        manifest = stored["__manifest__"]
    for changed in (
        {**arrays(), "ids": arrays()["ids"].astype(np.int64)},
        {**arrays(), "ids": arrays()["ids"].reshape(2, 3)},
    ):
        np.savez(tmp_path / "image.npz", __manifest__=manifest, **changed)
        assert load_arrays(tmp_path / "image.npz", KEY) is None


@pytest.mark.parametrize("keep", [0, 10, 0.5, -1])
def test_a_truncated_file_is_recomputed(tmp_path, caplog, keep):
    compute = Compute()
    cached("image", KEY, compute, tmp_path)
    path = cache_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with caplog.at_level(logging.WARNING, logger=feature_cache.__name__):
        result = cached("image", KEY, compute, tmp_path)
    assert compute.calls == 2
    assert_same(result, arrays())
    assert "recomputing" in caplog.text
    assert_same(load_arrays(path, KEY), arrays())


def test_a_file_computed_from_something_else_is_recomputed(tmp_path):
    compute = Compute()
    cached("image", KEY, compute, tmp_path)
    # Same file name (the first 16 characters of the key), another key: not used.
    other = KEY[:16] + "x" * 48
    assert load_arrays(cache_file(tmp_path), other) is None
    cached("image", other, compute, tmp_path)
    assert compute.calls == 2
    manifest = json.loads(str(np.load(cache_file(tmp_path))["__manifest__"]))
    assert manifest["key"] == other


def test_no_cache_dir_always_computes(tmp_path):
    compute = Compute()
    cached("image", KEY, compute, None)
    cached("image", KEY, compute, None)
    assert compute.calls == 2


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2],  # not contiguous
        np.zeros((0, 3), np.float32),
        np.array(True),
        np.array([[1, 2]], dtype=">i4"),
    ],
)
def test_array_fingerprint_hashes_the_bytes_without_copying_them(array):
    # Digests equal those of the earlier `tobytes()` form, so existing cache keys stay valid.
    digest = hashlib.sha256()
    digest.update(str((array.dtype.str, array.shape)).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(b"\x00")
    assert fingerprint(array) == digest.hexdigest()
