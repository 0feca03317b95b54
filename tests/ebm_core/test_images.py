"""Tests for ebm_core.images. None of them touches the network: downloads are monkeypatched."""

import gzip
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from ebm_core import images
from ebm_core.images import (
    DATASETS,
    DatasetUnavailable,
    load_digits,
    load_images,
    load_mnist,
    parse_idx,
    read_idx,
    tile,
    to_pixels,
)


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file: magic 0 0 8 ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def offline(monkeypatch):
    """Make every download fail the way it does without a network, and count the attempts."""
    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return calls


# ----------------------------------------------------------------------------------------------
# digits


def test_digits_range_shape_and_classes():
    data = load_digits(split="all")
    assert data.images.shape == (1797, 1, 8, 8) and data.images.dtype == torch.float32
    assert data.images.min().item() == -1.0 and data.images.max().item() == 1.0
    assert data.labels.dtype == torch.int64
    assert set(data.labels.tolist()) == set(range(10)) and len(data.classes) == 10
    assert len(data) == 1797


def test_digits_split_is_disjoint_complete_and_deterministic():
    full = load_digits(split="all")
    train, test = load_digits(split="train"), load_digits(split="test")
    assert len(test) == round(0.2 * len(full)) and len(train) + len(test) == len(full)
    # every image of the full set is in exactly one split (compare images as bytes)

    def key(d):
        return {img.tobytes() + bytes([lab]) for img, lab in zip(d.images.numpy(), d.labels.numpy())}

    assert not key(train) & key(test)
    assert key(train) | key(test) == key(full)
    again = load_digits(split="test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)
    other = load_digits(split="test", seed=1)
    assert not torch.equal(other.labels, test.labels)


def test_digits_and_load_images_reject_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        load_digits(split="validation")
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.0)
    with pytest.raises(ValueError) as info:
        load_images("cifar10")
    for name in DATASETS:
        assert name in str(info.value)


def test_load_images_dispatches_digits():
    data = load_images("digits", split="test")
    assert data.name == "digits" and data.images.shape[1:] == (1, 8, 8)


# ----------------------------------------------------------------------------------------------
# to_pixels and tile


def test_pixels_map_the_range_and_tiles_place_each_image_in_its_cell():
    x = torch.zeros(5, 1, 3, 4)
    x[0] = -1.0
    x[1] = 1.0
    x[3] = float("nan")
    x[4] = 3.0
    px = to_pixels(x)
    assert px.dtype == np.uint8 and px.shape == (5, 3, 4)
    assert (px[0] == 0).all() and (px[1] == 255).all() and (px[2] == 128).all()  # -1, 1, 0 -> mid-grey
    assert (px[3] == 128).all() and (px[4] == 255).all()  # NaN shows grey, values outside are clamped
    grid = tile(px, nrow=2, pad=1, border=7)
    assert grid.shape == (3 * (3 + 1) + 1, 2 * (4 + 1) + 1)  # 3 rows of 2
    assert (grid[1:4, 1:5] == 0).all() and (grid[1:4, 6:10] == 255).all() and (grid[5:8, 1:5] == 128).all()
    assert (grid[0] == 7).all() and (grid[9:12, 6:10] == 7).all()  # the border, and the cell past the last image
    big = tile(px, nrow=2, pad=1, border=7, scale=3)
    assert big.shape == (3 * grid.shape[0], 3 * grid.shape[1]) and (big[::3, ::3] == grid).all()


def test_tile_rejects_bad_input():
    with pytest.raises(ValueError, match="images must have shape"):
        to_pixels(torch.zeros(4, 8))
    with pytest.raises(ValueError, match="pixels"):
        tile(np.zeros((0, 8, 8), np.uint8), nrow=2)
    with pytest.raises(ValueError, match="nrow"):
        tile(np.zeros((4, 8, 8), np.uint8), nrow=0)


# ----------------------------------------------------------------------------------------------
# IDX files and MNIST


def test_parse_idx_round_trips_a_tiny_file(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(_idx_bytes(array)), array)
    path = tmp_path / "tiny-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(array)))
    assert np.array_equal(read_idx(path), array)
    with pytest.raises(ValueError, match="IDX"):
        parse_idx(_idx_bytes(array)[:-1])  # truncated
    with pytest.raises(ValueError, match="IDX"):
        parse_idx(b"\x1f\x8b\x08\x00")  # a gzip header, not IDX


def test_load_mnist_offline_raises_and_points_to_digits(tmp_path, offline):
    with pytest.raises(DatasetUnavailable) as info:
        load_mnist(root=tmp_path)
    message = str(info.value)
    assert "digits" in message and "could not be downloaded" in message
    assert str(tmp_path) in message and "no network in this test" in message
    assert offline, "the loader should have tried a mirror"
    with pytest.raises(DatasetUnavailable):
        load_images("fashion_mnist", root=tmp_path)


def test_load_mnist_reads_cached_idx_files_without_network(tmp_path, offline):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    pixels[0, 0, 0], pixels[0, 0, 1] = 0, 255
    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(pixels)))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels)))

    data = load_mnist("fashion_mnist", root=tmp_path, split="test")
    assert not offline  # everything came from the cache
    assert data.images.shape == (6, 1, 28, 28) and data.name == "fashion_mnist"
    assert data.images.min().item() == -1.0 and data.images.max().item() == 1.0
    assert torch.allclose(data.images[:, 0], torch.from_numpy(pixels / 127.5 - 1).float(), atol=1e-6)
    assert data.labels.tolist() == labels.tolist() and data.classes[9] == "Ankle boot"
    assert (tmp_path / "test_images.npy").exists()

    # the parsed .npy cache is enough on its own
    for gz in tmp_path.glob("*.gz"):
        gz.unlink()
    again = load_mnist("fashion_mnist", root=tmp_path, split="test", download=False)
    assert torch.equal(again.images, data.images)


def test_download_uses_first_working_mirror(tmp_path, monkeypatch):
    payload = {
        "images": gzip.compress(_idx_bytes(np.zeros((2, 28, 28)))),
        "labels": gzip.compress(_idx_bytes(np.zeros(2))),
    }
    tried = []

    class Response:
        def __init__(self, body):
            self.body = body

        def read(self):
            return self.body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(url, timeout):
        tried.append(url)
        assert timeout <= 30
        if url.startswith(images.MIRRORS["mnist"][0]):
            raise urllib.error.URLError("first mirror down")
        return Response(payload["images" if "images" in url else "labels"])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    data = load_mnist(root=tmp_path, split="train")
    assert data.images.shape == (2, 1, 28, 28)
    assert all(url.endswith(".gz") for url in tried) and len(tried) == 4  # 2 files x 2 mirrors
    assert not list(tmp_path.glob("*.part"))


def test_load_mnist_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name"):
        load_mnist("cifar10", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist(root=tmp_path, split="all")
