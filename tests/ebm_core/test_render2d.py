"""A 2D frame drawn for a movie shows what the canvas shows: the colours follow the energy (dark at its
minimum, saturated far up) or the density (white where it is nil), points land where they are, and
the -grad E arrows point downhill."""

import numpy as np
import pytest

from ebm_core import render2d

EXTENT, N, SIZE = 4.0, 64, 256


def grid_xy() -> tuple[np.ndarray, np.ndarray]:
    h = 2 * EXTENT / N
    xs = -EXTENT + h * (np.arange(N) + 0.5)
    yy, xx = np.meshgrid(xs, xs, indexing="ij")  # row 0 is the lowest y, as density.make_grid
    return xx, yy


def pixel(x: float, y: float) -> tuple[int, int]:
    """(row, column) of the point (x, y) in the picture (row 0 at the top)."""
    return int((EXTENT - y) / (2 * EXTENT) * SIZE), int((x + EXTENT) / (2 * EXTENT) * SIZE)


def bowl() -> np.ndarray:
    xx, yy = grid_xy()
    return 2 * ((xx - 1) ** 2 + (yy + 2) ** 2)  # minimum at (1, -2)


def test_colours_follow_the_energy_and_the_density():
    e = bowl()
    pic = render2d.picture(e, 0.0, EXTENT, view="energy", size=SIZE)
    assert pic.shape == (SIZE, SIZE, 3) and pic.dtype == np.uint8
    assert np.abs(pic[pixel(1, -2)].astype(int) - render2d.VIRIDIS[0]).max() <= 12  # dark at the minimum
    assert pic[pixel(-3.5, 3.5)].tolist() == render2d.VIRIDIS[255].tolist()  # saturated far up
    log_z = float(np.log(np.exp(-e).sum() * (2 * EXTENT / N) ** 2))
    dens = render2d.picture(e, log_z, EXTENT, view="density", density_max=1 / np.pi, size=SIZE)
    assert dens[pixel(-3.5, 3.5)].tolist() == [255, 255, 255]  # nothing there
    assert dens[pixel(1, -2)].sum() < 300  # the peak is dark on the white-to-purple scale
    with pytest.raises(ValueError, match="view"):
        render2d.picture(e, 0.0, EXTENT, view="surface")


def test_points_and_chains_land_where_they_are_and_missing_ones_are_skipped():
    flat = np.zeros((N, N))
    plain = render2d.picture(flat, 0.0, EXTENT, size=SIZE)
    pic = render2d.picture(flat, 0.0, EXTENT, size=SIZE, x_neg=np.array([[-3.0, 3.0], [np.nan, np.nan]]),
                           x_data=np.array([[2.0, -1.0]]), trails=[np.array([[0.0, 0.0], [2.0, 2.0]])])
    assert pic[pixel(-3, 3)].tolist() == list(render2d.NEG)
    assert pic[pixel(2, -1)].tolist() == list(render2d.DATA)
    assert pic[pixel(1, 1)].tolist() == list(render2d.CHAIN)  # on the chain's path
    changed = (pic != plain).any(axis=2)
    assert changed.sum() < 0.03 * SIZE * SIZE  # three small marks and one line, nothing else


def test_arrows_point_downhill_and_are_drawn():
    xx, _ = grid_xy()
    bases, tips = render2d.arrow_lattice(0.5 * xx, EXTENT, SIZE)  # E grows to the right
    d = tips - bases
    assert (d[:, 0] < -0.8 * SIZE / 16).all() and np.abs(d[:, 1]).max() < 1e-6  # all left, nearly full length
    bases, tips = render2d.arrow_lattice(bowl(), EXTENT, SIZE)
    to_min = np.array(pixel(1, -2))[::-1] - bases  # (x, y) pixels towards the minimum
    far = np.linalg.norm(to_min, axis=1) > SIZE / 16
    d, to_min = (tips - bases)[far], to_min[far]
    cos = (d * to_min).sum(1) / (np.linalg.norm(d, axis=1) * np.linalg.norm(to_min, axis=1))
    assert len(cos) > 200 and (cos > 0.95).all()
    plain = render2d.picture(bowl(), 0.0, EXTENT, size=SIZE)
    drawn = render2d.picture(bowl(), 0.0, EXTENT, size=SIZE, arrows=True)
    x, y = ((bases[0] + tips[0]) / 2).astype(int)
    assert (drawn[y - 1:y + 2, x - 1:x + 2] == 255).all(axis=2).any() and not (plain[y, x] == 255).all()


def test_the_lab_chains_draw_the_animations_frames_and_a_png_only_its_last():
    from ebm_core import movie2d
    from ebm_core.lessons.lab import frame_steps

    rng = np.random.default_rng(0)
    log_density = -bowl()
    trajectories = [np.cumsum(rng.normal(0, 0.1, (41, 20, 2)), axis=0).astype(np.float32) for _ in range(2)]
    frames, labels = movie2d.chains_pictures(log_density, EXTENT, trajectories, ["a", "b"], size=128, max_frames=20)
    assert labels == [f"step {s}" for s in frame_steps(40, 20)] and frames.shape[0] == 21
    assert frames.shape[2] == 2 * 128 + 8  # two panels side by side
    last, last_label = movie2d.chains_pictures(log_density, EXTENT, trajectories, ["a", "b"], size=128, max_frames=20,
                                               last_only=True)
    assert last_label == labels[-1:] and np.array_equal(last[0], frames[-1])  # the same picture, drawn alone
