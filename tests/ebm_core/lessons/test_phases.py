"""CD one step at a time: the recorded update is the real update, and it does what the phases say."""

import numpy as np
import pytest
import torch

from ebm_core import config, density, train2d, training
from ebm_core.lessons import phases

CPU = torch.device("cpu")
GRID = density.make_grid(3.0, 32)
SMALL = {"width": 32, "n_steps": 6, "batch_size": 64, "buffer_size": 256}


def _trainer(**over) -> training.Trainer:
    return train2d.make_trainer_2d(config.RunConfig().replace(**{**SMALL, **over}), device=CPU)


def _same_state(a: training.Trainer, b: training.Trainer) -> None:
    sa, sb = a.state(), b.state()
    assert sa["step"] == sb["step"]
    for part in ("model", "ema"):
        if sa[part] is None:
            assert sb[part] is None
            continue
        for k in sa[part]:
            assert torch.equal(sa[part][k], sb[part][k]), f"{part}.{k} differs"
    for pa, pb in zip(sa["opt"]["state"].values(), sb["opt"]["state"].values()):
        for k in pa:
            assert torch.equal(pa[k], pb[k]), f"optimiser {k} differs"
    if sa["buffer"] is not None:
        assert torch.equal(sa["buffer"], sb["buffer"])


@pytest.mark.parametrize("over", [
    {"method": "pcd"},
    {"method": "cd"},
    {"method": "short_run", "ema": 0.0},
    {"method": "pcd", "spectral_norm": True, "sampler": "mala"},
])
def test_recorded_update_is_the_real_update(over):
    a, b = _trainer(**over), _trainer(**over)  # the same seed: the same nets, spectral norm's vectors included
    for _ in range(3):
        a.step(), b.step()
    rec = phases.cd_update_by_phase(a, GRID, n_show=16)
    log = b.step()
    _same_state(a, b)
    assert rec.step == a.step_count == 4
    assert rec.loss == log.loss and rec.e_pos_mean == log.e_pos and rec.e_neg_mean == log.e_neg
    # and the runs stay identical afterwards (generators advanced alike)
    assert a.step().loss == b.step().loss


def test_record_shapes_and_consistency():
    tr = _trainer(method="cd", n_steps=6)
    rec = phases.cd_update_by_phase(tr, GRID, n_show=10, record_every=2)
    assert rec.x_pos.shape == rec.x0.shape == rec.x_neg.shape == (10, 2)
    assert rec.trajectory.shape == (6 // 2 + 1, 10, 2)
    assert np.array_equal(rec.trajectory[0], rec.x0) and np.array_equal(rec.trajectory[-1], rec.x_neg)
    assert np.array_equal(rec.x0, rec.x_pos)  # CD starts the chains at the data
    for e in (rec.e_pos, rec.e_pos_after, rec.de_pos, rec.e_neg, rec.e_neg_after, rec.de_neg):
        assert e.shape == (10,) and np.isfinite(e).all()
    g = GRID.n
    assert rec.energy_before.shape == rec.energy_after.shape == rec.energy_change.shape == (g, g)
    assert rec.loss == pytest.approx(rec.e_pos_mean - rec.e_neg_mean + rec.regulariser, abs=1e-5)
    assert rec.regulariser >= 0
    assert [k for k, _, _ in phases.PHASES] == ["data", "push_down", "negatives", "negative_energies", "push_up",
                                                "change"]
    assert all(title and text.endswith(".") for _, title, text in phases.PHASES)


def test_shown_energies_are_the_displayed_model():
    tr = _trainer(ema=0.9)
    for _ in tr.run(5):
        pass
    before = density.evaluate(tr.eval_model, GRID.points).view(GRID.n, GRID.n).float().numpy()
    rec = phases.cd_update_by_phase(tr, GRID, n_show=8)
    after = density.evaluate(tr.eval_model, GRID.points).view(GRID.n, GRID.n).float().numpy()
    np.testing.assert_allclose(rec.energy_before, before, atol=1e-5)
    np.testing.assert_allclose(rec.energy_after, after, atol=1e-5)
    e_pos = density.evaluate(tr.eval_model, torch.from_numpy(rec.x_pos)).float().numpy()
    np.testing.assert_allclose(rec.e_pos_after, e_pos, atol=1e-5)


@pytest.mark.parametrize("method", ["pcd", "cd", "short_run"])
def test_an_update_lowers_its_loss_and_widens_the_gap(method):
    # Measured with the default settings over 50 updates spread across 400 (seed 0): the loss on
    # the batch fell 50/50 for each method, the gap widened 48/50 (pcd), 50/50 (cd), 44/50 (short run).
    tr = train2d.make_trainer_2d(config.RunConfig().replace(method=method, width=64), device=CPU)
    falls = widens = 0
    for i in range(60):
        if i % 4:
            tr.step()
            continue
        rec = phases.cd_update_by_phase(tr, GRID, n_show=tr.cfg.batch_size, record_every=5)
        falls += rec.loss_after < rec.loss
        widening = rec.gap_after - (rec.e_neg_mean - rec.e_pos_mean)
        widens += widening > 0
        # the common move is removed: the data's mean change is minus half the widening, the negatives' plus half
        assert rec.de_pos.mean() == pytest.approx(-widening / 2, abs=1e-4)
        assert rec.de_neg.mean() == pytest.approx(widening / 2, abs=1e-4)
    assert falls == 15
    assert widens >= 12
