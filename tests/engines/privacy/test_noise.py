"""Noise draws (ptn.engines.privacy.noise): their distribution, their seeds, ε = ∞.

The draws are tested against scipy.stats' Laplace and normal distributions at the calibrated
scale (Kolmogorov–Smirnov, 100 000 draws, fixed seed), and the same test must reject a scale
10 % off, so it can fail. Streams are reproducible from (seed, name) and independent across
names (correlation and a two-sample KS test against each other's shuffle).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.calibration import gaussian_delta, gaussian_epsilon
from ptn.engines.privacy.noise import GaussianMechanism, LaplaceMechanism, noise_generator
from ptn.engines.privacy.sensitivity import Sensitivity

DRAWS = 100_000
#: KS p-values: accept the right scale above, reject a 10 % wrong one below
ACCEPT, REJECT = 1e-3, 1e-12


def noise_of(mechanism: LaplaceMechanism | GaussianMechanism, stream: str) -> np.ndarray:
    base = np.linspace(-3.0, 7.0, DRAWS).reshape(200, 500)  # (stations × periods)-like
    return (mechanism.release(base, noise_generator(11, stream)) - base).ravel()


def test_laplace_noise_has_the_calibrated_scale() -> None:
    mechanism = LaplaceMechanism(Sensitivity(l1=1.5, l2=1.5), epsilon=0.6)
    scale = 1.5 / 0.6  # Δ1/ε, written out
    noise = noise_of(mechanism, "traffic/station_loads")
    assert stats.kstest(noise, stats.laplace(scale=scale).cdf).pvalue > ACCEPT
    for wrong in (0.9 * scale, 1.1 * scale):
        assert stats.kstest(noise, stats.laplace(scale=wrong).cdf).pvalue < REJECT
    assert stats.kstest(noise, stats.norm(scale=scale * math.sqrt(2)).cdf).pvalue < REJECT


def test_gaussian_noise_has_the_calibrated_sigma() -> None:
    mechanism = GaussianMechanism.calibrated(Sensitivity(l1=4.0, l2=2.0), 0.5, 1e-5,
                                             calibration="classic")
    sigma = 2.0 * math.sqrt(2 * math.log(1.25 / 1e-5)) / 0.5  # Dwork & Roth Thm A.1
    noise = noise_of(mechanism, "dso/prices")
    assert stats.kstest(noise, stats.norm(scale=sigma).cdf).pvalue > ACCEPT
    for wrong in (0.9 * sigma, 1.1 * sigma):
        assert stats.kstest(noise, stats.norm(scale=wrong).cdf).pvalue < REJECT
    assert stats.kstest(noise, stats.laplace(scale=sigma / math.sqrt(2)).cdf).pvalue < REJECT


def test_the_same_seed_and_stream_give_the_same_noise() -> None:
    mechanism = LaplaceMechanism(Sensitivity(1.0, 1.0), 1.0)
    values = np.arange(24.0).reshape(2, 12)
    first = mechanism.release(values, noise_generator(5, "traffic/station_loads"))
    again = mechanism.release(values, noise_generator(5, "traffic/station_loads"))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, mechanism.release(
        values, noise_generator(6, "traffic/station_loads")))


def test_streams_of_different_names_are_independent() -> None:
    one = noise_generator(5, "cno1/prices").standard_normal(DRAWS)
    two = noise_generator(5, "cno2/prices").standard_normal(DRAWS)
    assert not np.array_equal(one[:10], two[:10])
    # uncorrelated: |r| ~ 1/sqrt(n) = 0.0022 under independence; 5 standard errors
    assert abs(np.corrcoef(one, two)[0, 1]) < 5 / math.sqrt(DRAWS)
    assert abs(np.corrcoef(one[1:], two[:-1])[0, 1]) < 5 / math.sqrt(DRAWS)
    # their sum is N(0, 2) as it is for independent draws (not for equal or opposite ones)
    assert stats.kstest(one + two, stats.norm(scale=math.sqrt(2)).cdf).pvalue > ACCEPT


def test_a_stream_name_is_not_a_prefix_trick() -> None:
    """Names are hashed whole: 'a/b' and 'a' + 'b' style near-collisions differ."""
    names = ["traffic/station_loads", "traffic/station_load", "traffic", "dso/prices",
             "dso/prices ", "cno/prices"]
    firsts = {name: noise_generator(0, name).standard_normal() for name in names}
    assert len(set(firsts.values())) == len(names)


@pytest.mark.parametrize("mechanism", [
    LaplaceMechanism(Sensitivity(1.0, 1.0), math.inf),
    GaussianMechanism.calibrated(Sensitivity(1.0, 1.0), math.inf, 1e-5),
    GaussianMechanism.for_rho(Sensitivity(1.0, 1.0), math.inf, 1e-5),
    LaplaceMechanism(Sensitivity(0.0, 0.0), 0.1),
])
def test_no_privacy_asked_returns_the_input_bit_for_bit(
        mechanism: LaplaceMechanism | GaussianMechanism) -> None:
    values = np.array([[0.1, -0.0, 5e-324, 1e308], [1 / 3, -2.5, 0.0, 7.0]])
    generator = noise_generator(1, "traffic/station_loads")
    state = generator.bit_generator.state
    released = mechanism.release(values, generator)
    assert released.tobytes() == values.tobytes()  # -0.0 and subnormals kept
    assert released is not values
    assert generator.bit_generator.state == state  # no draw taken
    # the accountant is charged what was stated: ∞ for no privacy
    assert mechanism.cost.epsilon == mechanism.epsilon


def test_costs_charged_per_round() -> None:
    laplace = LaplaceMechanism(Sensitivity(1.0, 1.0), 0.4)
    assert (laplace.cost.epsilon, laplace.cost.delta, laplace.cost.rho) == (0.4, 0.0,
                                                                            0.4**2 / 2)
    gaussian = GaussianMechanism.calibrated(Sensitivity(3.0, 2.0), 1.0, 1e-6)
    assert gaussian.cost.rho == pytest.approx(2.0**2 / (2 * gaussian.sigma**2), rel=1e-15)
    assert (gaussian.cost.epsilon, gaussian.cost.delta) == (1.0, 1e-6)


def test_a_rho_calibrated_gaussian_states_its_exact_epsilon() -> None:
    mechanism = GaussianMechanism.for_rho(Sensitivity(2.0, 2.0), 0.05, 1e-6)
    assert mechanism.sigma == pytest.approx(2.0 / math.sqrt(0.1), rel=1e-15)
    a, b = 2.0 / (2 * mechanism.sigma), mechanism.epsilon * mechanism.sigma / 2.0
    profile = stats.norm.cdf(a - b) - math.exp(mechanism.epsilon) * stats.norm.cdf(-a - b)
    assert profile == pytest.approx(1e-6, rel=1e-8)
    assert gaussian_delta(2.0, mechanism.sigma, mechanism.epsilon) == pytest.approx(1e-6,
                                                                                    rel=1e-8)
    # at the same δ, below the zCDP conversion ρ + 2 sqrt(ρ ln(1/δ)), which is an upper bound
    assert mechanism.epsilon < 0.05 + 2 * math.sqrt(0.05 * math.log(1e6))
    assert gaussian_epsilon(2.0, 1e9, 1e-6) == 0.0


@pytest.mark.parametrize(("values", "named"), [
    (np.array([1.0, np.nan]), "values"), (np.array([np.inf]), "values"),
    ([["a"]], "values"),
])
def test_bad_values_are_refused(values: object, named: str) -> None:
    with pytest.raises(InvalidInputError, match=named):
        LaplaceMechanism(Sensitivity(1.0, 1.0), 1.0).release(values,  # type: ignore[arg-type]
                                                             noise_generator(0, "x"))


@pytest.mark.parametrize(("seed", "stream", "named"), [
    (-1, "x", "seed"), (True, "x", "seed"), (1.5, "x", "seed"), (0, "", "stream"),
])
def test_bad_seeds_and_streams_are_refused(seed: object, stream: str, named: str) -> None:
    with pytest.raises(InvalidInputError, match=named):
        noise_generator(seed, stream)  # type: ignore[arg-type]
