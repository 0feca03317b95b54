"""Image datasets for the Images page, all as float32 tensors in [-1, 1] of shape (N, 1, H, W).

- `digits`: scikit-learn's bundled 8x8 handwritten digits (1797 images, pixel values 0..16). It
  ships with scikit-learn, so it always works, offline included.
- `mnist`, `fashion_mnist`: 28x28, downloaded once as the four standard IDX gzip files, parsed
  with numpy and cached as .npy next to them. Without a network and without a cache they raise
  `DatasetUnavailable`, whose message points to `digits`.

Usage:
    data = load_images("digits", split="train")   # data.images: (1437, 1, 8, 8)
    picture = tile(to_pixels(data.images[:64]), nrow=8)   # (73, 73) uint8, ready for st.image
"""

import gzip
import os
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

Tensor = torch.Tensor

DATASETS = ("digits", "mnist", "fashion_mnist")
IMAGE_SIZES = {"digits": 8, "mnist": 28, "fashion_mnist": 28}  # side of each dataset's square images
DOWNLOAD_TIMEOUT_S = 10.0

# Where the IDX files live; tried in order. Each mirror serves the four standard file names.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}
FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = {
    "digits": tuple(str(d) for d in range(10)),
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}


class DatasetUnavailable(RuntimeError):
    """A downloadable dataset could be neither found in its cache nor downloaded."""


@dataclass(frozen=True)
class ImageDataset:
    """Images with their labels.

    Attributes:
        images: (N, 1, H, W) float32 in [-1, 1].
        labels: (N,) int64 class indices into `classes`.
        name: the dataset's name in `DATASETS`.
        classes: human-readable class names.
    """

    images: Tensor
    labels: Tensor
    name: str
    classes: tuple[str, ...]

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(f"images must have shape (N, 1, H, W), got {tuple(self.images.shape)}")
        if self.labels.shape != (len(self.images),):
            n, shape = len(self.images), tuple(self.labels.shape)
            raise ValueError(f"labels must have shape ({n},), got {shape}")

    def __len__(self) -> int:
        return len(self.images)


def _to_unit_range(pixels: np.ndarray, max_value: float) -> Tensor:
    """Pixels in [0, max_value], shape (N, H, W) -> float32 (N, 1, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32) * (2.0 / max_value) - 1.0)
    return x.unsqueeze(1)


# ----------------------------------------------------------------------------------------------
# scikit-learn digits (bundled)


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_load_digits  # reads a bundled CSV

    bunch = sklearn_load_digits()
    images, labels = bunch.images.astype(np.float32), bunch.target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False  # shared by every caller
    return images, labels


def load_digits(*, split: str = "train", test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits, scaled from 0..16 to [-1, 1].

    Args:
        split: "train", "test" or "all". Train and test are a disjoint random split that depends
            only on `seed` and `test_fraction`.
        test_fraction: share of the 1797 images in the test split, in (0, 1).
        seed: seed of the split's permutation (a local generator; global state is untouched).

    Returns:
        An ImageDataset with images (N, 1, 8, 8).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be one of train, test, all; got {split!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    images, labels = _digits_arrays()
    index = np.arange(len(images))
    if split != "all":
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed)).numpy()
        n_test = round(test_fraction * len(images))
        index = np.sort(perm[:n_test] if split == "test" else perm[n_test:])
    return ImageDataset(
        images=_to_unit_range(images[index], 16.0),
        labels=torch.from_numpy(labels[index].copy()),
        name="digits",
        classes=CLASSES["digits"],
    )


# ----------------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes) -> np.ndarray:
    """Parse the bytes of one (uncompressed) IDX file into an array.

    The format: two zero bytes, a type code, the number of dimensions d, then d big-endian
    uint32 sizes, then the values in C order.

    Raises:
        ValueError: if the bytes are not a well-formed IDX file.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError("data is not an IDX file: bad magic number")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError("data is not an IDX file: truncated header")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) != header + count * dtype.itemsize:
        raise ValueError(f"data is not an IDX file: shape {shape} does not match {len(data)} bytes")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file from disk, gunzipping it if its name ends in .gz."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return parse_idx(f.read())


def _download(name: str, filename: str, dest: Path) -> None:
    """Fetch one file from the first mirror that answers; raise OSError with every reason."""
    reasons = []
    for mirror in MIRRORS[name]:
        try:
            with urllib.request.urlopen(mirror + filename, timeout=DOWNLOAD_TIMEOUT_S) as response:
                payload = response.read()
            gzip.decompress(payload)  # a captive portal or error page is not a gzip file
        except (OSError, EOFError, ValueError) as err:  # URLError and timeouts are OSErrors
            reasons.append(f"{mirror}: {err}")
            continue
        tmp = dest.with_suffix(dest.suffix + ".part")
        tmp.write_bytes(payload)
        tmp.replace(dest)  # atomic, so a half-written file never looks cached
        return
    raise OSError("; ".join(reasons))


def _unavailable(name: str, folder: Path, reason: str) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"The {name} dataset could not be downloaded ({reason}). "
        f"No cached copy was found in {folder}. "
        "The bundled 'digits' dataset (scikit-learn's 8x8 digits) works offline: "
        "use load_images('digits') instead."
    )


def cache_root() -> Path:
    """Where downloads are cached: $EBM_DATA_DIR, else ~/.cache/ebm_explorer."""
    return Path(os.environ.get("EBM_DATA_DIR") or Path.home() / ".cache" / "ebm_explorer")


def load_mnist(
    name: str = "mnist",
    *,
    root: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
) -> ImageDataset:
    """MNIST or Fashion-MNIST, 28x28, scaled from 0..255 to [-1, 1].

    The first call downloads the split's two IDX files (train: 60000 images, test: 10000) into
    `root` and stores them parsed as `<split>_images.npy` and `<split>_labels.npy`; later calls
    read only the .npy files.

    Args:
        name: "mnist" or "fashion_mnist".
        root: cache folder; defaults to cache_root() / <name>.
        split: "train" or "test".
        download: if False, only the cache is used.

    Raises:
        DatasetUnavailable: the files are neither cached nor downloadable (for example offline).
    """
    if name not in MIRRORS:
        raise ValueError(f"name must be one of {', '.join(MIRRORS)}; got {name!r}")
    if split not in FILES:
        raise ValueError(f"split must be one of {', '.join(FILES)}; got {split!r}")
    folder = Path(root) if root is not None else cache_root() / name
    images_npy, labels_npy = folder / f"{split}_images.npy", folder / f"{split}_labels.npy"

    if not (images_npy.exists() and labels_npy.exists()):
        # 1. make sure both gzip files are on disk
        gz_paths = [folder / f for f in FILES[split]]
        for path in gz_paths:
            if path.exists():
                continue
            if not download:
                raise _unavailable(name, folder, f"{path.name} is not cached and download=False")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                _download(name, path.name, path)
            except OSError as err:
                raise _unavailable(name, folder, str(err)) from err
        # 2. parse them once and keep the arrays as .npy
        images, labels = (read_idx(p) for p in gz_paths)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{folder} holds mismatched IDX files: {images.shape} and {labels.shape}")
        np.save(images_npy, images.astype(np.uint8))
        np.save(labels_npy, labels.astype(np.int64))

    images, labels = np.load(images_npy), np.load(labels_npy)
    return ImageDataset(
        images=_to_unit_range(images, 255.0),
        labels=torch.from_numpy(labels.astype(np.int64)),
        name=name,
        classes=CLASSES[name],
    )


# ----------------------------------------------------------------------------------------------
# Dispatch and display


def load_images(
    name: str, *, split: str = "train", root: str | os.PathLike | None = None
) -> ImageDataset:
    """Load a dataset of `DATASETS` by name; `root` is the download cache (unused by digits)."""
    if name == "digits":
        return load_digits(split=split)
    if name in DATASETS:
        return load_mnist(name, root=root, split=split)
    raise ValueError(f"unknown image dataset {name!r}; valid names: {', '.join(DATASETS)}")


def to_pixels(x) -> np.ndarray:
    """Images (N, 1, H, W) or (N, H, W) in [-1, 1] (a tensor or an array) -> (N, H, W) uint8 where
    -1 maps to 0 and 1 to 255; values outside are clamped and NaN shows as mid-grey (a diverged
    sampler shows grey, not noise)."""
    a = np.asarray(x.detach().float().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    if a.ndim == 4:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"images must have shape (N, 1, H, W) or (N, H, W), got {a.shape}")
    a = np.clip(np.nan_to_num(a, nan=0.0), -1, 1)
    return np.round((a + 1) * 127.5).astype(np.uint8)


def tile(pixels: np.ndarray, nrow: int, *, scale: int = 1, pad: int = 1, border: int = 110) -> np.ndarray:
    """Tile (N, H, W) uint8 images into one grayscale picture for display.

    Args:
        pixels: (N, H, W) uint8 (see `to_pixels`), N >= 1.
        nrow: images per row; the picture has ceil(N / nrow) rows of them.
        scale: each pixel becomes a scale x scale block (browsers smooth small images when they
            enlarge them; blocks keep pixels crisp).
        pad: pixels of border around and between the images (before scaling).
        border: the border's grey level; the default separates the black backgrounds of digits.

    Returns:
        uint8 array (scale * (rows * (H + pad) + pad), scale * (nrow * (W + pad) + pad)); cells past
        the last image are border.
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or len(pixels) == 0:
        raise ValueError(f"pixels must be a non-empty (N, H, W) array, got {getattr(pixels, 'shape', type(pixels))}")
    for name, v, lo in (("nrow", nrow, 1), ("scale", scale, 1), ("pad", pad, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    n, h, w = pixels.shape
    rows = -(-n // nrow)
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad), border, np.uint8)
    for k in range(n):
        top, left = pad + (k // nrow) * (h + pad), pad + (k % nrow) * (w + pad)
        out[top: top + h, left: left + w] = pixels[k]
    return np.kron(out, np.ones((scale, scale), np.uint8)) if scale > 1 else out
