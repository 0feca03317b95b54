"""Contrastive divergence: the gradient's direction, the three chain flavours, and that a short run
on eight_gaussians actually learns the density (exact KL falls)."""

import dataclasses
import math
import sys

import pytest
import torch

from ebm_core import config, density, toy2d, train2d, training
from ebm_core.nets import EnergyConvNet, EnergyImageMLP, EnergyMLP


def test_cd_gradient_lowers_data_energy_and_raises_negative_energy():
    # With local features (Gaussian bumps) and data far from the negatives, the two pushes do not
    # interfere: one small gradient step must lower E(data) and raise E(negatives).
    g = torch.Generator().manual_seed(0)
    centres = torch.cartesian_prod(torch.linspace(-4, 4, 17), torch.linspace(-4, 4, 17))  # (289, 2)
    w = torch.zeros(len(centres), requires_grad=True)
    energy = lambda x: torch.exp(-torch.cdist(x, centres).square() / 0.5) @ w  # noqa: E731
    x_pos = toy2d.sample("eight_gaussians", 256, generator=g)  # radius 2
    x_neg = 0.3 * torch.randn(256, 2, generator=g)  # near the origin
    loss = training.cd_loss(energy(x_pos), energy(x_neg), alpha=0.0)
    (grad,) = torch.autograd.grad(loss, w)
    with torch.no_grad():
        w -= 0.1 * grad
        assert energy(x_pos).mean() < -1e-3 and energy(x_neg).mean() > 1e-3
    # For any net, a small step widens the gap E(neg) - E(data): its first-order change is lr |g_neg - g_pos|^2.
    model = EnergyMLP(width=32, depth=2)
    gap0 = (model(x_neg).mean() - model(x_pos).mean()).item()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    training.cd_loss(model(x_pos), model(x_neg), alpha=0.0).backward()
    opt.step()
    assert (model(x_neg).mean() - model(x_pos).mean()).item() > gap0


@pytest.mark.parametrize("method", ["pcd", "cd", "short_run"])
def test_each_method_steps_and_logs(method):
    cfg = config.RunConfig().replace(method=method, width=32, n_steps=5, batch_size=64, buffer_size=256)
    tr = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    logs = list(tr.run(5))
    assert [log.step for log in logs] == [1, 2, 3, 4, 5]
    assert all(log.finite and math.isclose(log.gap, log.e_neg - log.e_pos, abs_tol=1e-5) for log in logs)
    assert (tr.buffer is not None) == (method == "pcd")
    if method == "cd":
        assert torch.equal(tr.last_x0, tr.last_x_pos)  # textbook CD starts the chains at the data


def test_replay_buffer_reinit_fraction():
    g = torch.Generator().manual_seed(0)
    buf = training.ReplayBuffer(10_000, lambda n, gen: torch.full((n, 2), 7.0), g, torch.device("cpu"))
    buf.x.zero_()
    x0, idx = buf.draw(20_000, 0.05)
    fresh = (x0 == 7.0).all(1).float().mean().item()
    assert abs(fresh - 0.05) < 0.01
    buf.update(idx, x0 + 1)
    assert torch.equal(buf.x[idx[-1]], x0[-1] + 1) or (idx == idx[-1]).sum() > 1


def _young_chains_after_draws(burn_in: int) -> tuple[int, float, list]:
    """Draw 300 batches of 64 from a buffer of 2048 with reinit 0.2 and the given burn-in: the chains
    younger than 3 updates at the end, the share of restarts, and each draw's (indices, restarted)."""
    buf = training.ReplayBuffer(2048, lambda n, gen: torch.full((n, 2), 7.0), torch.Generator().manual_seed(0),
                                torch.device("cpu"))
    buf.x.zero_()
    buf.age.fill_(10)
    draws = []
    for _ in range(300):
        x0, idx = buf.draw(64, 0.2, burn_in=burn_in)
        draws.append((idx, (x0 == 7.0).all(1)))
        buf.update(idx, torch.zeros_like(x0))  # written back: a restart is told from the others by its value
    share = torch.cat([fresh for _, fresh in draws]).float().mean().item()
    return int(((buf.age >= 1) & (buf.age < 3)).sum()), share, draws


def test_burn_in_runs_each_restarted_chain_in_the_next_draws_and_leaves_few_young_chains():
    young, share, draws = _young_chains_after_draws(burn_in=3)
    assert abs(share - 0.2) < 0.01  # the reinit fraction holds on average
    for t in range(len(draws) - 2):  # a chain restarted by one draw is drawn by the next two
        restarted = set(draws[t][0][draws[t][1]].tolist())
        assert restarted <= set(draws[t + 1][0].tolist()) and restarted <= set(draws[t + 2][0].tolist())
        assert len(draws[t + 1][0]) == 64
    # only the chains in their burn-in are 1 or 2 updates old (about 2 x 13), against about a third of
    # the buffer when each waits its turn after its restart
    assert young <= 2 * 0.2 * 64 + 10
    waiting, share_waiting, _ = _young_chains_after_draws(burn_in=1)
    assert abs(share_waiting - 0.2) < 0.01 and waiting > 0.25 * 2048


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_same_seed_same_run(spectral_norm):
    cfg = config.RunConfig().replace(width=32, n_steps=5, batch_size=64, buffer_size=256, spectral_norm=spectral_norm)
    torch.manual_seed(1)  # the global RNG differs between the two builds: the seed alone decides
    a = [log.loss for log in train2d.make_trainer_2d(cfg, device=torch.device("cpu")).run(5)]
    torch.manual_seed(2)
    b = [log.loss for log in train2d.make_trainer_2d(cfg, device=torch.device("cpu")).run(5)]
    assert a == b


def test_short_training_run_lowers_kl_on_eight_gaussians():
    cfg = config.RunConfig()
    tr = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    grid = density.make_grid(toy2d.extent("eight_gaussians"), 96)
    data = density.data_density(lambda x: toy2d.log_density("eight_gaussians", x), grid)
    kl0 = density.kl_data_model(data, density.grid_density(tr.eval_model, grid))
    for _ in tr.run(1200):
        pass
    gd = density.grid_density(tr.eval_model, grid)
    kl = density.kl_data_model(data, gd)
    assert kl0 > 1.0
    assert kl < 0.35 * kl0, f"KL {kl0:.3f} -> {kl:.3f}"
    assert gd.mass_outside < 0.05


def test_state_and_restore_roll_back_exactly():
    cfg = config.RunConfig().replace(width=16, n_steps=3, batch_size=32, buffer_size=128)
    tr = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    list(tr.run(3))
    saved = tr.state()
    x = torch.randn(10, 2)
    e_saved = tr.model(x).detach()
    list(tr.run(3))
    assert not torch.allclose(tr.model(x), e_saved)
    tr.restore(saved)
    assert torch.equal(tr.model(x).detach(), e_saved) and tr.step_count == 3


def test_set_sampler_and_lr_apply_without_reset():
    cfg = config.RunConfig().replace(width=16, n_steps=3, batch_size=32, buffer_size=128)
    tr = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    tr.step()
    tr.set_sampler(config.SamplerConfig(sampler="mala", step_size=0.001, n_steps=4))
    tr.set_lr(1e-4)
    log = tr.step()
    assert log.step == 2 and 0 < log.acceptance <= 1
    assert tr.opt.param_groups[0]["lr"] == 1e-4


def test_energy_nets_check_their_boundary():
    with pytest.raises(ValueError, match="shape"):
        EnergyMLP()(torch.zeros(4, 3))
    conv = EnergyConvNet(image_size=8)
    assert conv(torch.zeros(5, 1, 8, 8)).shape == (5,)
    assert EnergyConvNet(image_size=28)(torch.zeros(2, 1, 28, 28)).shape == (2,)
    with pytest.raises(ValueError, match="shape"):
        conv(torch.zeros(5, 1, 28, 28))
    mlp = EnergyImageMLP(image_size=8, width=32)
    assert mlp(torch.rand(5, 1, 8, 8)).shape == (5,)
    with pytest.raises(ValueError, match="shape"):
        mlp(torch.zeros(5, 64))  # images, not pixels already flattened
    with pytest.raises(ValueError, match="width"):
        EnergyImageMLP(width=0)


def test_box_wall_confines_the_density():
    # a net that is constant in the box: without the wall exp(-E) would not be integrable
    m = EnergyMLP(width=4, box=2.0, confine=0.5)
    for p in m.parameters():
        torch.nn.init.zeros_(p)
    grid = density.make_grid(2.0, 64)
    gd = density.grid_density(m, grid)
    # inside: area 16; outside: four strips of half-Gaussians plus four corners that make up one 2D Gaussian
    outside = 4 * 4 * 0.5 * math.sqrt(math.pi / 2) + 2 * math.pi * 0.25
    assert abs(gd.log_z - math.log(16 + outside)) < 0.01


def test_buffer_age_counts_the_runs_since_each_chain_restarted():
    g = torch.Generator().manual_seed(1)
    buf = training.ReplayBuffer(50, lambda n, gen: torch.zeros(n, 2), g, torch.device("cpu"))
    expect = torch.zeros(50, dtype=torch.long)
    for _ in range(30):  # never restarted: each chain's age is the number of draws it took part in
        x0, idx = buf.draw(20, 0.0)
        buf.update(idx, x0)
        expect[idx.unique()] += 1
    assert torch.equal(buf.age, expect) and expect.max() > 5
    x0, idx = buf.draw(20, 1.0)  # all restarted from noise, then run once
    buf.update(idx, x0)
    assert (buf.age[idx] == 1).all()


def test_a_step_reads_from_the_device_once_and_skips_a_non_finite_update(monkeypatch):
    cfg = config.RunConfig().replace(batch_size=64, n_steps=5, buffer_size=256)
    tr = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    tr.step()
    reads = []  # host reads of tensor values made by ebm_core while stepping (each waits for a GPU)

    def counting(name):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if "ebm_core" in caller:
                reads.append((name, caller))
            return original(self, *args, **kwargs)
        return read

    for name in ("tolist", "item", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    log = tr.step()
    assert [r[0] for r in reads] == ["tolist"], reads
    assert log.finite and math.isfinite(log.grad_norm) and log.grad_norm > 0
    # a weight that is not a number makes the loss NaN: the update is refused and the weights kept
    monkeypatch.undo()
    with torch.no_grad():
        next(tr.model.parameters())[0, 0] = float("nan")
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    log = tr.step()
    assert not log.finite and training.energies_broken(log)
    assert all(torch.equal(before[k].nan_to_num(), v.nan_to_num()) for k, v in tr.model.state_dict().items())


def test_restarts_from_the_model_need_a_model_density_and_can_be_switched_live():
    cfg = config.RunConfig().replace(batch_size=64, buffer_size=256, n_steps=3)
    tr = train2d.make_trainer_2d(cfg)
    tr.apply_live_settings(cfg, cfg.replace(restart="model"))  # a 2D trainer has the model's density
    assert tr.cfg.restart == "model" and tr.step().finite
    model = EnergyMLP(width=8, depth=1)
    noise = lambda n, g: torch.zeros(n, 2)  # noqa: E731
    with pytest.raises(ValueError, match="only a 2D run"):
        training.Trainer(model, noise, noise, cfg.sampler, dataclasses.replace(cfg.train, restart="model"))
    plain = training.Trainer(model, noise, noise, cfg.sampler, cfg.train)
    with pytest.raises(ValueError, match="only a 2D run"):
        plain.set_train(dataclasses.replace(cfg.train, restart="model"))
    assert plain.cfg.restart == "noise"  # refused: nothing changed
