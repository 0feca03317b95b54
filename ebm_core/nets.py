"""Energy networks. Convention, checked at the boundary: p(x) is proportional to exp(-E(x)), lower
energy is more likely, and forward(x) returns energies of shape (B,).

A 2D MLP must give a normalisable density whose mass sits where we can see it. Training chains only
visit the box around the data, so an unconstrained net is free to extrapolate below the data's
energy far away, and most of exp(-E) can end up off screen (we measured over half for a plain MLP).
So the 2D MLP owns its box [-box, box]^2: the net sees x clamped to the box, and outside it a
quadratic wall adds dist(x, box)^2 / (2 * confine^2). Inside the box the energy is the net alone;
outside it rises from its value on the boundary, where the chains do go, and exp(-E) is integrable.
"""

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

Tensor = torch.Tensor

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _check_energy(e: Tensor, batch: int) -> Tensor:
    if e.shape != (batch,):
        raise ValueError(f"energy must have shape ({batch},), got {tuple(e.shape)}")
    return e


def _mlp(dim: int, width: int, depth: int, activation: str, spectral_norm: bool) -> nn.Sequential:
    """dim -> width x depth -> 1, the activation after each hidden layer."""
    if depth < 1 or width < 1:
        raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
    wrap = _spectral_norm if spectral_norm else (lambda m: m)
    layers: list[nn.Module] = []
    sizes = [dim] + [width] * depth
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [wrap(nn.Linear(a, b)), make_activation(activation)]
    layers.append(wrap(nn.Linear(width, 1)))
    return nn.Sequential(*layers)


def _check_image(x: Tensor, channels: int, size: int) -> Tensor:
    want = (channels, size, size)
    if x.ndim != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(f"x must have shape (B, {', '.join(map(str, want))}), got {tuple(x.shape)}")
    return x


class EnergyMLP(nn.Module):
    """MLP energy on R^d: d -> width x depth -> 1; with `box`, clamped input and a quadratic wall."""

    def __init__(
        self,
        *,
        dim: int = 2,
        width: int = 128,
        depth: int = 2,
        activation: str = "silu",
        spectral_norm: bool = False,
        box: float | None = None,
        confine: float = 0.5,
    ):
        super().__init__()
        if confine <= 0 or (box is not None and box <= 0):
            raise ValueError(f"box and confine must be positive, got box={box}, confine={confine}")
        self.dim, self.box, self.confine = dim, box, confine
        self.net = _mlp(dim, width, depth, activation, spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}), got {tuple(x.shape)}")
        if self.box is None:
            return _check_energy(self.net(x).squeeze(1), x.shape[0])
        xc = x.clamp(-self.box, self.box)  # (B, d) nearest point of the box
        wall = (x - xc).square().sum(dim=1) / (2 * self.confine**2)  # (B,) zero inside the box
        e = self.net(xc).squeeze(1) + wall
        return _check_energy(e, x.shape[0])


class EnergyConvNet(nn.Module):
    """Small conv energy for images (B, C, H, W) in [-1, 1]: stride-2 convs, SiLU, linear head."""

    def __init__(
        self,
        *,
        channels: int = 1,
        image_size: int = 8,
        width: int = 32,
        activation: str = "silu",
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.channels, self.image_size = channels, image_size
        wrap = _spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        c_in, size, c_out = channels, image_size, width
        while size > 4:  # downsample to 4x4 or less: 8 -> 4, 28 -> 14 -> 7 -> 4
            layers += [wrap(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)), make_activation(activation)]
            c_in, size, c_out = c_out, (size + 1) // 2, c_out * 2
        layers += [wrap(nn.Conv2d(c_in, c_in, 3, padding=1)), make_activation(activation), nn.Flatten()]
        layers += [wrap(nn.Linear(c_in * size * size, 64)), make_activation(activation), wrap(nn.Linear(64, 1))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return _check_energy(self.net(_check_image(x, self.channels, self.image_size)).squeeze(1), x.shape[0])


class EnergyImageMLP(nn.Module):
    """MLP energy for images (B, C, H, W): the pixels as one vector, C*H*W -> width x depth -> 1.

    On 8x8 digits on a CPU it is about five times cheaper per Langevin step than EnergyConvNet of
    width 16, so it makes that many more updates in the same time (bench/images.py)."""

    def __init__(
        self,
        *,
        channels: int = 1,
        image_size: int = 8,
        width: int = 128,
        depth: int = 2,
        activation: str = "silu",
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.channels, self.image_size = channels, image_size
        self.net = nn.Sequential(nn.Flatten(), *_mlp(channels * image_size**2, width, depth, activation,
                                                      spectral_norm))

    def forward(self, x: Tensor) -> Tensor:
        return _check_energy(self.net(_check_image(x, self.channels, self.image_size)).squeeze(1), x.shape[0])


IMAGE_NETS: dict[str, type[nn.Module]] = {"mlp": EnergyImageMLP, "conv": EnergyConvNet}  # ImageModelConfig.net


@torch.no_grad()
def weights_digest(model: nn.Module) -> str:
    """A fingerprint of a model's weights (names and values): equal weights, equal digest."""
    import hashlib

    h = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw every weight and bias of Linear/Conv layers from `generator` (PyTorch's default
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))), so a seed fixes the net without touching global RNG state.
    Spectral norm's power-iteration vectors (drawn from the global RNG when the layer was wrapped)
    are re-drawn from `generator` too, and iterated on the new weights."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            bound = 1.0 / math.sqrt(w[0].numel())
            nn.init.uniform_(w, -bound, bound, generator=generator)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
            for p in getattr(getattr(m, "parametrizations", None), "weight", ()):
                if hasattr(p, "_u") and hasattr(p, "_v"):  # torch's _SpectralNorm
                    for buf in (p._u, p._v):
                        u = torch.randn(buf.shape, generator=generator, dtype=buf.dtype, device=generator.device)
                        buf.copy_(nn.functional.normalize(u, dim=0, eps=p.eps))
                    p._power_method(p._reshape_weight_to_matrix(w), 15)
    return model
