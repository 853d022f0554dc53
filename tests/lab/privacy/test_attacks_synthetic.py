"""Each attack on a negotiation whose truth is known in closed form: it must succeed without
noise, and its error must grow, on average over seeds, as the released messages get noisier
(Laplace noise calibrated by :mod:`ptn.engines.privacy`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ptn.coordinator.outcome import RoundRecord
from ptn.lab.privacy.feeder_limits import (
    FeederTruth,
    binding_estimate,
    infer_binding_periods,
    infer_upstream_tariff,
    precision_recall,
)
from ptn.lab.privacy.noisy_views import laplace, noisy_admm_view, noisy_game_view
from ptn.lab.privacy.price_bounds import CnoTruth, infer_marginal_cost, infer_price_bounds
from ptn.lab.privacy.response_fit import fit_response, reconstruct_response, response_truth
from ptn.lab.privacy.views import NoObservationsError, admm_view, game_view
from tests.lab.privacy.synthetic import (
    GAME_STATIONS,
    HIGH,
    LOW,
    PERIODS,
    admm_outcome,
    game_records,
    linear_consumer,
    linear_respond,
)

EPSILONS = (10.0, 1.0, 0.1)  # the noise's scale grows tenfold at each step
SEEDS = range(20)


def test_the_view_recovers_the_prices_each_admm_step_answered() -> None:
    view = admm_view(admm_outcome())
    a, beta = linear_consumer()
    # the consumer's step answered π exactly: its private response at π is its reply
    np.testing.assert_allclose(a - beta * view.effective_price, view.consumer_load, atol=1e-12)
    assert view.rounds == 12 and view.baseline_price is not None


def test_the_load_response_fit_recovers_a_linear_response_exactly() -> None:
    view = admm_view(admm_outcome())
    truth = response_truth(linear_respond(), view.final_price)
    a, beta = linear_consumer()
    # the elasticity in closed form: −Σ_t β p / Σ_t L per station
    expected = -np.sum(beta * view.final_price, axis=1) / np.sum(
        a - beta * view.final_price, axis=1)
    np.testing.assert_allclose(truth.elasticity, expected, rtol=1e-9)
    result = reconstruct_response(view, truth)
    assert result.ok and result.error < 1e-6
    assert result.errors["elasticity_relative_error"] < 1e-6
    model = fit_response(*view.response_points())
    np.testing.assert_allclose(model.slope_mw_per_usd_mwh, -beta, rtol=1e-6)
    # at a price far from the rounds' too (the response is linear)
    far = np.full_like(a, 60.0)
    far_result = reconstruct_response(view, response_truth(linear_respond(), far), far)
    assert far_result.error < 1e-6


def test_a_station_period_whose_price_never_moved_takes_the_pooled_elasticity() -> None:
    prices = np.array([[[10.0, 5.0]], [[20.0, 5.0]]])  # (2 observations, 1 station, 2 periods)
    loads = np.array([[[2.0, 1.0]], [[1.0, 1.0]]])
    model = fit_response(prices, loads)
    # cell 0: slope −0.1 MW per $/MWh; its elasticity at the means −0.1·15/1.5 = −1
    assert model.slope_mw_per_usd_mwh[0, 0] == pytest.approx(-0.1)
    assert model.pooled_elasticity == pytest.approx(-1.0)
    assert model.pooled[0, 1] and model.slope_mw_per_usd_mwh[0, 1] == pytest.approx(-1 / 5)


def test_too_few_rounds_are_refused() -> None:
    outcome = admm_outcome(rounds=1)
    with pytest.raises(NoObservationsError, match="at least 2"):
        admm_view(outcome)


def mean_error(errors: list[float]) -> float:
    return float(np.mean(errors))


def test_the_load_response_attack_degrades_with_noisy_loads() -> None:
    view = admm_view(admm_outcome())
    truth = response_truth(linear_respond(), view.final_price)
    means = []
    for epsilon in EPSILONS:  # one station's load by up to 0.01 MW: scales 0.001 to 0.1 MW
        mechanism = laplace(0.01, "MW", epsilon, PERIODS)
        means.append(mean_error([reconstruct_response(
            noisy_admm_view(view, load=mechanism, seed=seed), truth).error for seed in SEEDS]))
    assert means[0] < means[1] < means[2], means
    assert means[0] > 1e-5  # the noise is there


def test_the_feeder_attacks_are_exact_on_prices_that_show_their_limits() -> None:
    upstream = np.array([45.0, 70.0, 140.0, 95.0])
    price = np.repeat(upstream[None], 3, axis=0)
    price[1, 0] += 30.0  # a premium of 67 % in period 0
    price[2, 3] *= 1.3  # 30 % in period 3
    price[0, 2] *= 1.05  # 5 %: losses, not a limit
    truth = FeederTruth(np.array([True, False, False, True]), upstream)
    binding = infer_binding_periods(price, truth)
    assert binding.errors["precision"] == 1.0 and binding.errors["recall"] == 1.0
    tariff = infer_upstream_tariff(price, truth)
    assert tariff.error == 0.0
    assert precision_recall(np.array([True, True]), np.array([True, False])) == (0.5, 1.0)
    assert binding_estimate(price, premium_threshold=0.01).tolist() == [True, False, True, True]


def test_the_feeder_attacks_degrade_with_noisy_prices() -> None:
    outcome = admm_outcome()
    view = admm_view(outcome)
    upstream = np.array([45.0, 70.0, 140.0, 95.0])
    price = np.repeat(upstream[None], 3, axis=0)
    price[1, 0] += 30.0
    price[2, 3] *= 1.3
    truth = FeederTruth(np.array([True, False, False, True]), upstream)
    view = replace(view, price_sent=np.repeat(price[None], view.rounds, axis=0))
    tariff, detection = [], []
    for epsilon in EPSILONS:  # one price by up to $1/MWh: scales 0.1 to 10 $/MWh
        mechanism = laplace(1.0, "$/MWh", epsilon, PERIODS)
        noisy = [noisy_admm_view(view, price=mechanism, seed=seed) for seed in SEEDS]
        tariff.append(mean_error([infer_upstream_tariff(v.last_price_received, truth).error
                                  for v in noisy]))
        found = [infer_binding_periods(v.last_price_received, truth) for v in noisy]
        detection.append(mean_error([(r.errors["precision"] + r.errors["recall"]) / 2
                                     for r in found]))
    assert tariff[0] < tariff[1] < tariff[2], tariff
    assert detection[0] >= detection[1] >= detection[2] and detection[0] > detection[2], \
        detection


def game_truth(records: list[RoundRecord]) -> CnoTruth:
    purchase = np.stack([r.series["dso_price_per_mwh"][[2, 3]] for r in records])
    return CnoTruth(np.array([LOW, LOW]), np.array([HIGH, HIGH]), purchase)


def test_the_game_attacks_are_exact_when_the_bounds_were_posted() -> None:
    records = game_records()
    view = game_view(records, GAME_STATIONS, ("a1", "a2"), ("b1", "b2"), attacker="a",
                     target="b")
    truth = game_truth(records)
    bounds = infer_price_bounds(view, truth)
    assert bounds.error == 0.0 and bounds.estimate["price_max_per_mwh"] == {"b1": HIGH,
                                                                            "b2": HIGH}
    assert infer_marginal_cost(view, truth).error < 1e-12


def test_the_game_attacks_degrade_with_noisy_prices() -> None:
    records = game_records()
    view = game_view(records, GAME_STATIONS, ("a1", "a2"), ("b1", "b2"), attacker="a",
                     target="b")
    truth = game_truth(records)
    bounds, cost = [], []
    for epsilon in EPSILONS:
        mechanism = laplace(1.0, "$/MWh", epsilon, PERIODS)
        noisy = [noisy_game_view(view, price=mechanism, seed=seed) for seed in SEEDS]
        bounds.append(mean_error([infer_price_bounds(v, truth).error for v in noisy]))
        cost.append(mean_error([infer_marginal_cost(v, truth).error for v in noisy]))
    assert bounds[0] < bounds[1] < bounds[2], bounds
    assert cost[0] < cost[1] < cost[2], cost
