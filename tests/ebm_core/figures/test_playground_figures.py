"""The Playground's training-curves figure: built from a cached skeleton, so each figure must carry
its own numbers and leave the skeleton as it was."""

import math
from types import SimpleNamespace

import numpy as np

from ebm_core.figures import playground as figures


def snapshot(n: int, entropy: float, seed: int) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    history = {k: rng.normal(size=n) for k in ("loss", "e_pos", "e_neg", "gap")} | {"step": np.arange(n, dtype=float)}
    diag = {k: rng.normal(size=n // 10) for k in ("kl", "nll", "bias")} | {"step": np.arange(0, n, 10, dtype=float)}
    return SimpleNamespace(history=history, diag_history=diag, data_entropy=entropy)


def test_each_curves_figure_shows_its_own_numbers_and_the_entropy_line_where_it_exists():
    a, b = snapshot(300, 1.25, 0), snapshot(40, math.nan, 1)
    fig_a = figures.curves_figure(a)
    fig_a.update_xaxes(automargin=True)  # what the panel route does to a figure: must not reach the next one
    fig_a.data[0].y = np.zeros(3)
    fig_b = figures.curves_figure(b)
    assert [t.name for t in fig_b.data] == ["mean E(data)", "mean E(negatives)", "gap E(neg) - E(data)", "loss",
                                            "KL(data || model)", "test NLL", "sampler bias"]
    np.testing.assert_allclose(fig_b.data[0].y, b.history["e_pos"].astype(np.float32))
    np.testing.assert_allclose(fig_b.data[4].x, b.diag_history["step"])
    assert not fig_b.layout.shapes and fig_b.layout.xaxis.automargin is None
    again = figures.curves_figure(a)
    np.testing.assert_allclose(again.data[0].y, a.history["e_pos"].astype(np.float32))
    (line,), labels = again.layout.shapes, [t.text for t in again.layout.annotations]
    assert line.y0 == line.y1 == 1.25 and "data entropy (best NLL)" in labels
    assert len(again.data[0].x) == 300 and len(figures.curves_figure(snapshot(5000, 1.0, 2)).data[0].x) == 600
