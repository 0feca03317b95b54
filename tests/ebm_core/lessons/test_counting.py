"""Why Z is out of reach for images: exact enumeration of small binary images, timing and formatting."""

import itertools
import math

import pytest
import torch

from ebm_core.lessons import counting


def brute_force_log_z(model, side: int, T: float) -> float:
    """Every image built pixel by pixel with itertools, energies one at a time, an fsum in float64."""
    energies_ = []
    with torch.no_grad():
        for pixels in itertools.product((0.0, 1.0), repeat=side * side):
            energies_.append(float(model(torch.tensor(pixels).reshape(1, side, side))[0]))
    e_min = min(energies_)
    return -e_min / T + math.log(math.fsum(math.exp(-(e - e_min) / T) for e in energies_))


@pytest.mark.parametrize("side,T", [(1, 1.0), (2, 0.5), (3, 1.0), (3, 0.2)])
def test_enumerated_log_z_matches_a_brute_force_sum(side, T):
    model = counting.make_image_energy(side, width=16, gain=5.0, generator=torch.Generator().manual_seed(side))
    assert counting.enumerate_log_z(model, side, temperature=T) == pytest.approx(brute_force_log_z(model, side, T),
                                                                               abs=1e-5)


def test_enumeration_of_4x4_covers_every_image_once():
    model = counting.make_image_energy(4, width=16, generator=torch.Generator().manual_seed(0))
    e = counting.enumerate_energies(model, 4, batch=5000)  # batches that do not divide 2^16
    assert e.shape == (2**16,) and e.dtype == torch.float64
    images = counting.binary_images(4, 0, 2**16).reshape(-1, 16)
    assert len(torch.unique(images, dim=0)) == 2**16
    some = [0, 12345, 65535]
    with torch.no_grad():
        assert torch.allclose(e[some], model(counting.binary_images(4, 0, 2**16)[some]).double())
    # a constant energy makes every image equally likely: Z = 2^16 exp(-c)
    assert counting.enumerate_log_z(lambda x: torch.full((len(x),), 2.0), 4) == pytest.approx(16 * math.log(2) - 2)


def test_measured_rate_matches_a_model_of_known_speed():
    import time

    def slow(x):
        time.sleep(0.01)
        return torch.zeros(len(x))

    rate = counting.measure_evals_per_second(slow, (2, 2), batch=100, min_seconds=0.1)
    assert 5_000 < rate < 10_000  # at most 100 / 0.01 s; sleeping overshoots a little
    assert counting.measure_evals_per_second(slow, (2, 2), batch=100, min_seconds=0, min_repeats=1) < 10_000
    real = counting.measure_evals_per_second(counting.make_image_energy(8), (8, 8), batch=256, min_seconds=0.05)
    assert real > 1000


def test_enumeration_time_and_its_formatting():
    eight = counting.enumeration_time(2**64, 1e6)
    assert eight.seconds == pytest.approx(2**64 / 1e6)
    assert str(eight) == f"{2**64 / 1e6 / counting.SECONDS_PER_YEAR:,.0f} years"  # 584,542 years
    assert str(counting.enumeration_time(2**16, 1e6)) == "65.5 ms"
    assert str(counting.enumeration_time(2**36, 1e6)) == "19.1 hours"
    huge = counting.enumeration_time(2**784, 1e6)  # 10^236 evaluations: beyond float range in seconds? no, in years
    assert huge.log10_seconds == pytest.approx(784 * math.log10(2) - 6)
    assert str(huge).endswith("years") and "10" in str(huge)
    assert huge.log10_universe_ages == pytest.approx(huge.log10_years - math.log10(13.8e9))
    assert str(counting.enumeration_time(2**4000, 1.0)).endswith("years")  # a count no float can hold
    assert counting.format_count(2**64) == "18,446,744,073,709,551,616"
    assert counting.format_count(2**784) == "≈ 1 × 10²³⁶"
    assert counting.format_power_of_ten(math.log10(9.96e5)) == "1 × 10⁶"


def test_bad_counting_arguments_raise_value_errors_that_name_them():
    with pytest.raises(ValueError, match="side"):
        counting.enumerate_energies(counting.make_image_energy(5), 5)
    with pytest.raises(ValueError, match="n_configs"):
        counting.enumeration_time(0, 1.0)
    with pytest.raises(ValueError, match="evals_per_s"):
        counting.enumeration_time(10, 0.0)
