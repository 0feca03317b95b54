"""Sample quality for image EBMs: does a reference classifier recognise the samples, and do they
cover every class?

The reference is a small MLP (pixels -> 128 ReLU -> classes) fitted on the dataset's training
split in a few seconds, with its accuracy on the test split reported. It is also trained with
outlier exposure (Hendrycks et al. 2019, "Deep anomaly detection with outlier exposure"): on
uniform noise and on training images with their pixels shuffled it is taught to answer the uniform
distribution, so a confident prediction means "looks like a real image of this class", not just
"is on this side of a hyperplane". On the bundled digits, ~87% of real test digits get a
confidence above 0.9 and none of uniform noise or shuffled digits do.

    clf = get_classifier("digits")         # fitted once per process
    q = score_samples(clf, samples)        # samples (N, 1, 8, 8) in [-1, 1]
    q.confident_share, q.spread, q.class_counts
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .images import ImageDataset, load_images
from .nets import init_weights
from .samplers import uniform

Tensor = torch.Tensor
CONFIDENT = 0.9  # a sample counts as recognised when its top class probability exceeds this


@dataclass(frozen=True)
class Classifier:
    """A fitted reference classifier. `net` maps flattened images (N, C*H*W) to logits (N, K);
    it is never trained further after fitting."""

    net: nn.Module
    dataset: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    test_accuracy: float

    @torch.no_grad()
    def predict_proba(self, images: Tensor) -> Tensor:
        """Class probabilities (N, K) on the CPU for images (N, C, H, W) in [-1, 1]."""
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
            want = ", ".join(map(str, self.image_shape))
            raise ValueError(f"images must have shape (N, {want}), got {tuple(images.shape)}")
        x = torch.nan_to_num(images.detach().to("cpu", torch.float32), nan=0.0).clamp(-1, 1).flatten(1)
        return self.net(x).softmax(dim=1)


def _outliers(x: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """n/2 uniform-noise images and n/2 training images with shuffled pixels, flattened (n, D)."""
    d = x.shape[1]
    noise = uniform((n // 2, d), generator=generator)
    picked = x[torch.randint(len(x), (n - n // 2,), generator=generator)]
    shuffled = torch.gather(picked, 1, torch.argsort(torch.rand(picked.shape, generator=generator), dim=1))
    return torch.cat([noise, shuffled])


def fit_classifier(train: ImageDataset, test: ImageDataset, *, seed: int = 0, steps: int = 300,
                   batch_size: int = 512, hidden: int = 128) -> Classifier:
    """Fit the reference MLP on `train` (Adam, weight decay, outlier exposure) and measure its
    accuracy on `test`. Deterministic given seed; the cost does not grow with the dataset size.

    Args:
        train, test: splits of one dataset.
        seed: seeds the weights and the minibatches (a local generator; global state is untouched).
        steps: Adam updates.
        batch_size: images per update (and as many outliers).
        hidden: width of the hidden layer.
    """
    if train.images.shape[1:] != test.images.shape[1:]:
        raise ValueError(f"train and test images differ in shape: {tuple(train.images.shape[1:])} "
                         f"vs {tuple(test.images.shape[1:])}")
    g = torch.Generator().manual_seed(seed)
    x, y = train.images.flatten(1), train.labels  # (N, D), (N,)
    k = len(train.classes)
    net = init_weights(nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, k)), g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        # 1. a minibatch of images (the whole split when it is smaller) and as many outliers
        idx = torch.randint(len(x), (batch_size,), generator=g) if len(x) > batch_size else slice(None)
        xb, yb = x[idx], y[idx]
        xo = _outliers(x, len(xb), g)
        # 2. cross-entropy on the images + cross-entropy to the uniform distribution on outliers
        loss = F.cross_entropy(net(xb), yb) - 0.5 * net(xo).log_softmax(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.requires_grad_(False).eval()
    clf = Classifier(net, train.name, train.classes, tuple(train.images.shape[1:]), float("nan"))
    acc = (clf.predict_proba(test.images).argmax(dim=1) == test.labels).float().mean().item()
    return Classifier(net, train.name, train.classes, clf.image_shape, acc)


@lru_cache(maxsize=4)
def get_classifier(dataset: str) -> Classifier:
    """The reference classifier of a dataset of `images.DATASETS`, fitted once per process."""
    return fit_classifier(load_images(dataset, split="train"), load_images(dataset, split="test"))


@dataclass(frozen=True)
class Quality:
    """How recognisable a batch of samples is.

    n: number of samples scored.
    confident_share: share of samples whose top class probability exceeds CONFIDENT (0.9).
    mean_confidence: mean top class probability.
    class_counts: (K,) how many samples are predicted as each class (argmax, confident or not).
    spread: normalised entropy of class_counts: 1 when every class is predicted equally often,
        0 when all samples get one class (mode collapse).
    """

    n: int
    confident_share: float
    mean_confidence: float
    class_counts: tuple[int, ...]
    spread: float


def class_spread(counts: Tensor) -> float:
    """Entropy of the histogram `counts` (K,) divided by log K: in [0, 1]."""
    p = counts.double() / counts.sum()
    h = -(p[p > 0] * p[p > 0].log()).sum().item()
    return h / math.log(len(counts))


def score_pixels(classifier: Classifier, pixels: np.ndarray) -> Quality:
    """Score (N, H, W) uint8 images (0 = -1, 255 = +1, as snapshots carry them) with the classifier."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 127.5 - 1).unsqueeze(1)
    return score_samples(classifier, x)


def score_samples(classifier: Classifier, images: Tensor) -> Quality:
    """Score samples (N, C, H, W) in [-1, 1] with the reference classifier."""
    if len(images) == 0:
        raise ValueError("images must hold at least one sample")
    proba = classifier.predict_proba(images)  # (N, K)
    top = proba.max(dim=1)
    counts = torch.bincount(top.indices, minlength=proba.shape[1])  # (K,)
    return Quality(
        n=len(images),
        confident_share=(top.values > CONFIDENT).float().mean().item(),
        mean_confidence=top.values.mean().item(),
        class_counts=tuple(counts.tolist()),
        spread=class_spread(counts),
    )
