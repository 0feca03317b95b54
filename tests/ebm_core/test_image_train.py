"""Image EBM properties: clamped sampling keeps the known pixels bit for bit (and is exact for a
Gaussian's conditional), a short training run ranks real digits below noise, the reference
classifier tells digits from noise, masks and generation respect their contracts (image_train.py
and image_sampling.py, which share these fixtures)."""

import numpy as np
import pytest
import torch

from ebm_core import quality, samplers
from ebm_core.config import ImageRunConfig, SamplerConfig
from ebm_core.image_sampling import MASKS, add_noise, denoise, generate, inpaint, make_mask
from ebm_core.image_train import build_image_model, energy_of, make_trainer_images
from ebm_core.images import load_digits, to_pixels

CPU = torch.device("cpu")
SHAPE = (1, 8, 8)
# A small, cheap configuration for the tests (the defaults are tuned for quality, not speed).
FAST = ImageRunConfig().replace(width=16, batch_size=32, n_steps=10, buffer_size=256, reinit_frac=0.2, lr=3e-3,
                                ema=0.9)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits():
    return load_digits(split="train"), load_digits(split="test")


@pytest.fixture(scope="module", params=["mlp", "conv"])
def trained(digits, request):
    """A Trainer after a few seconds of training on the digits, with each of the nets."""
    trainer = make_trainer_images(FAST.replace(net=request.param), device=CPU, dataset=digits[0])
    logs = list(trainer.run(n_steps=60))
    assert all(log.finite for log in logs)
    return trainer


@pytest.fixture(scope="module")
def classifier():
    return quality.get_classifier("digits")


# ----------------------------------------------------------------------------------------------
# clamped (conditional) sampling


@pytest.mark.parametrize("name", list(samplers.SAMPLERS))
def test_samplers_hold_fixed_components_exactly(name):
    x0 = torch.randn(16, 1, 8, 8, generator=gen())
    values = torch.rand(16, 1, 8, 8, generator=gen(1))
    mask = make_mask("random half", 8, generator=gen(2))
    r = samplers.SAMPLERS[name](lambda x: x.flatten(1).square().sum(1), x0, step_size=0.05, n_steps=5,
                                fixed=(mask, values), record_every=1, generator=gen(3))
    assert torch.equal(r.x[:, :, mask], values[:, :, mask])
    assert all(torch.equal(s[:, :, mask], values[:, :, mask]) for s in r.trajectory)
    assert not torch.equal(r.x[:, :, ~mask], x0[:, :, ~mask])


def test_mala_with_fixed_component_samples_the_gaussian_conditional():
    # E = x^T P x / 2 with covariance [[1, rho], [rho, 1]]: x2 | x1 = a ~ N(rho a, 1 - rho^2)
    rho, a = 0.8, 1.5
    precision = torch.linalg.inv(torch.tensor([[1.0, rho], [rho, 1.0]]))

    def energy(x):
        return 0.5 * ((x @ precision) * x).sum(1)

    x0 = torch.zeros(4000, 2)
    fixed = (torch.tensor([True, False]), torch.tensor([a, 0.0]))
    r = samplers.mala(energy, x0, step_size=0.2, n_steps=300, fixed=fixed, generator=gen())
    assert torch.all(r.x[:, 0] == a)
    assert abs(r.x[:, 1].mean().item() - rho * a) < 0.05
    assert abs(r.x[:, 1].var().item() - (1 - rho**2)) < 0.03


def test_fixed_rejects_a_mask_that_does_not_fit():
    with pytest.raises(ValueError, match="bool"):
        samplers.langevin(lambda x: x.sum(1), torch.zeros(4, 2), step_size=0.1, n_steps=1,
                          fixed=(torch.ones(2), torch.zeros(2)))
    with pytest.raises(ValueError, match="broadcast"):
        samplers.langevin(lambda x: x.sum(1), torch.zeros(4, 2), step_size=0.1, n_steps=1,
                          fixed=(torch.ones(3, dtype=torch.bool), torch.zeros(3)))


@pytest.mark.parametrize("sampler", ["ula", "mala"])
def test_inpaint_keeps_known_pixels_bit_identical_and_fills_the_rest(digits, sampler):
    model = build_image_model(FAST, 1, 8)
    x = digits[1].images[:32]
    known = make_mask("bottom half", 8)
    cfg = SamplerConfig(sampler=sampler, step_size=0.5 if sampler == "ula" else 1e-3, noise_scale=0.5, n_steps=5)
    r = inpaint(model, x, known, cfg, generator=gen())
    assert torch.equal(r.x[:, :, known], x[:, :, known])
    assert not torch.equal(r.x[:, :, ~known], x[:, :, ~known])
    assert r.x.min() >= -1 and r.x.max() <= 1


# ----------------------------------------------------------------------------------------------
# training, generation, energies


def test_make_trainer_images_steps_are_finite_and_keep_the_buffer_in_range(digits):
    trainer = make_trainer_images(FAST, device=CPU, dataset=digits[0])
    logs = list(trainer.run(n_steps=3))
    assert [log.step for log in logs] == [1, 2, 3] and all(log.finite for log in logs)
    assert trainer.buffer.x.shape == (FAST.train.buffer_size, *SHAPE)
    assert trainer.buffer.x.min() >= -1 and trainer.buffer.x.max() <= 1
    assert trainer.last_x_pos.shape == (FAST.train.batch_size, *SHAPE)


@pytest.mark.parametrize("net", ["mlp", "conv"])
def test_build_image_model_is_fixed_by_the_seed(net):
    a, b, c = (build_image_model(FAST.replace(seed=s, net=net), 1, 8) for s in (0, 0, 1))
    x = torch.rand(4, *SHAPE, generator=gen())
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_short_training_ranks_test_digits_below_uniform_noise(trained, digits):
    test = digits[1].images  # (359, 1, 8, 8), never seen in training
    noise = 2 * torch.rand(len(test), *SHAPE, generator=gen(7)) - 1
    e_test, e_noise = energy_of(trained.eval_model, test), energy_of(trained.eval_model, noise)
    assert e_test.mean() < e_noise.mean()
    pairwise = (e_test[:, None] < e_noise[None, :]).float().mean()  # P(E(test) < E(noise))
    assert pairwise > 0.9


def test_denoise_lowers_the_energy_of_noisy_digits(trained, digits):
    model = trained.eval_model
    noisy = add_noise(digits[1].images[:128], 0.5, generator=gen())
    r = denoise(model, noisy, FAST.sampler, generator=gen(1))
    assert energy_of(model, r.x).mean() < energy_of(model, noisy).mean()
    assert r.x.min() >= -1 and r.x.max() <= 1


@pytest.mark.parametrize("sampler", ["ula", "mala"])
def test_generate_stays_in_the_pixel_range(sampler):
    model = build_image_model(FAST, 1, 8)
    cfg = SamplerConfig(sampler=sampler, step_size=10.0 if sampler == "ula" else 0.5, noise_scale=1.0, n_steps=5)
    r = generate(model, 64, cfg, shape=SHAPE, generator=gen(), record_every=1)
    assert r.x.shape == (64, *SHAPE) and r.trajectory.shape == (6, 64, *SHAPE)
    assert r.x.min() >= -1 and r.x.max() <= 1 and r.trajectory.abs().max() <= 1
    again = generate(model, 64, cfg, shape=SHAPE, generator=gen())
    assert torch.equal(r.x, again.x)


def test_energy_of_matches_one_big_batch():
    model = build_image_model(FAST, 1, 8)
    x = torch.rand(50, *SHAPE, generator=gen())
    with torch.no_grad():
        want = model(x)
    got = energy_of(model, x, batch=7)
    assert got.shape == (50,) and torch.allclose(got, want, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# masks


@pytest.mark.parametrize("kind", list(MASKS))
@pytest.mark.parametrize("size", [8, 28])
def test_every_mask_is_a_bool_image_with_known_and_missing_pixels(kind, size):
    m = make_mask(kind, size, generator=gen())
    assert m.shape == (size, size) and m.dtype == torch.bool
    assert 0 < m.sum() < size * size


def test_mask_geometry():
    assert make_mask("bottom half", 8)[:4].all() and not make_mask("bottom half", 8)[4:].any()
    assert make_mask("left half", 8)[:, 4:].all() and not make_mask("left half", 8)[:, :4].any()
    centre = make_mask("centre square", 8)
    assert not centre[2:6, 2:6].any() and centre.sum() == 64 - 16
    assert make_mask("random half", 8, generator=gen()).sum() == 32
    assert torch.equal(make_mask("random half", 8, generator=gen(3)), make_mask("random half", 8, generator=gen(3)))


def test_unknown_mask_kind_lists_the_valid_ones():
    with pytest.raises(ValueError, match="bottom half.*random half"):
        make_mask("diagonal", 8)


# ----------------------------------------------------------------------------------------------
# reference classifier and sample quality


def test_classifier_is_accurate_on_held_out_digits_and_unimpressed_by_noise(classifier, digits):
    assert classifier.test_accuracy > 0.9
    real = quality.score_samples(classifier, digits[1].images)
    noise = quality.score_samples(classifier, 2 * torch.rand(500, *SHAPE, generator=gen(4)) - 1)
    assert real.confident_share > 0.7 and real.spread > 0.95
    assert noise.confident_share < 0.02
    assert sum(real.class_counts) == real.n == len(digits[1])


def test_classifier_fit_is_deterministic(digits):
    a, b = (quality.fit_classifier(*digits, steps=10) for _ in range(2))
    x = digits[1].images[:20]
    assert torch.equal(a.predict_proba(x), b.predict_proba(x))


def test_spread_is_one_for_balanced_and_zero_for_collapsed_classes(classifier, digits):
    assert quality.class_spread(torch.full((10,), 7)) == pytest.approx(1.0)
    assert quality.class_spread(torch.tensor([0, 0, 9, 0, 0, 0, 0, 0, 0, 0])) == 0.0
    zeros = digits[1].images[digits[1].labels == 0]
    assert quality.score_samples(classifier, zeros).spread < 0.2


def test_score_samples_checks_the_image_shape(classifier):
    with pytest.raises(ValueError, match="shape"):
        quality.score_samples(classifier, torch.zeros(4, 1, 28, 28))


def test_a_chain_movie_runs_from_noise_to_the_final_state_and_a_seed_repeats_it():
    from ebm_core.image_sampling import chains_from_noise

    model = build_image_model(FAST, 1, 8)
    s = SamplerConfig(step_size=0.5, noise_scale=0.01, n_steps=25, grad_clip=0.03)
    m = chains_from_noise(model, 3, s, shape=(1, 8, 8), seed=4, max_frames=10)
    assert m.frames.shape == (len(m.steps), 3, 8, 8) and m.frames.dtype == np.uint8
    assert m.steps[0] == 0 and m.steps[-1] == 25 and m.steps == sorted(m.steps) and len(m.steps) <= 11
    assert (m.frames[-1] == to_pixels(m.final)).all()  # the movie ends on the result
    assert len(m.energies) == len(m.steps) and m.energies[-1] < m.energies[0]  # downhill from noise
    again = chains_from_noise(model, 3, s, shape=(1, 8, 8), seed=4, max_frames=10)
    assert torch.equal(again.final, m.final)


def test_fill_in_keeps_the_known_pixels_or_lowers_the_noise(digits):
    from ebm_core.image_sampling import fill_in

    model = build_image_model(FAST, 1, 8)
    x = digits[1].images[:8]
    s = SamplerConfig(step_size=0.5, noise_scale=0.01, n_steps=10, grad_clip=0.03)
    r = fill_in(model, x, s, mask="bottom half", seed=1)
    assert r.kept is True and r.rows.shape == (24, 8, 8) and (r.rows[:8] == to_pixels(x)).all()
    assert r.movie.steps[-1] == 10 and (r.movie.frames[-1] == r.rows[16:]).all()
    d = fill_in(model, x, SamplerConfig(step_size=0.01, noise_scale=0.0, n_steps=5), noise_std=0.5, seed=1)
    noisy = add_noise(x, 0.5, generator=torch.Generator().manual_seed(1))  # what fill_in drew first with the seed
    assert d.kept is None and (d.rows[8:16] == to_pixels(noisy)).all()
    assert d.mse_before == pytest.approx(float((noisy - x).square().mean())) and 0.05 < d.mse_before < 0.3
    with pytest.raises(ValueError, match="exactly one"):
        fill_in(model, x, s, seed=1)
