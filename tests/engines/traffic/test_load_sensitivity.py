"""Station-load sensitivities by implicit differentiation against exact re-solves.

On seed 001's traffic (Nguyen–Dupuis, six periods, departure shifting, elastic EV demand) at
uneven prices, the derivative of the station loads that
:mod:`ptn.engines.traffic.load_sensitivity` reads from the equilibrium's Hessian equals central
finite differences of exact equilibria (gap 1e-13, ±0.01 $/MWh) to 1e-5 of the response's
size, for a station's price in every period (the AEM's per-period probe), for one (station,
period) entry (cross-period effects through departure shifting and the demand law) and for a
change of every price at once (the elastic demand's whole-period term); the first-order
prediction of a 1 $/MWh probe is within 10 % of the exact load change.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.load_sensitivity import load_sensitivity
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodResult,
    build_multiperiod_problem,
)
from ptn.scenario.document import load_scenario
from ptn.services.traffic.config import traffic_config_from_part

GAP = 1e-13


@cache
def problem() -> MultiPeriodProblem:
    part = load_scenario("scenarios/pricing-seed001.toml").part("traffic")
    return build_multiperiod_problem(traffic_config_from_part(part).spec)


def base_prices() -> np.ndarray:
    spec = problem().spec
    rng = np.random.default_rng(7)
    return rng.uniform(190.0, 240.0, (spec.charging.num_stations, spec.num_periods))


@cache
def base() -> MultiPeriodResult:
    result = problem().solve(base_prices(), gap=GAP, max_iterations=5000)
    assert result.converged
    return result


def exact_change(change: np.ndarray) -> np.ndarray:
    up = problem().solve(base_prices() + change, gap=GAP, max_iterations=5000,
                         warm_start=base())
    down = problem().solve(base_prices() - change, gap=GAP, max_iterations=5000,
                           warm_start=base())
    assert up.converged and down.converged
    return np.asarray((up.station_load_mw - down.station_load_mw) / 2.0)


def predicted_change(change: np.ndarray) -> np.ndarray:
    expansion = load_sensitivity(base()).expand(base_prices() + change)
    return np.asarray(expansion.station_load_mw - base().station_load_mw)


def directions() -> dict[str, np.ndarray]:
    shape = base_prices().shape
    station = np.zeros(shape)
    station[1] = 1.0
    entry = np.zeros(shape)
    entry[2, 3] = 1.0
    return {"station in all periods": station, "one station and period": entry,
            "every price": np.ones(shape)}


@pytest.mark.parametrize("name", ["station in all periods", "one station and period",
                                  "every price"])
def test_the_derivative_equals_central_differences_of_exact_equilibria(name: str) -> None:
    h = 0.01
    direction = directions()[name]
    exact = exact_change(h * direction)
    predicted = predicted_change(h * direction)
    size = np.abs(exact).max()
    assert size > 1e-6  # the probe moves the loads
    assert np.abs(predicted - exact).max() <= 1e-5 * size


def test_the_jacobian_holds_the_directional_derivatives() -> None:
    sensitivity = load_sensitivity(base())
    jacobian = sensitivity.station_load_jacobian()
    direction = directions()["station in all periods"]
    from_jacobian = np.einsum("tsqu,qu->ts", jacobian, direction)
    flow, _ = sensitivity.direction(direction)
    energy = problem().spec.charging.energy_per_charge_mwh
    assert np.allclose(from_jacobian, flow[sensitivity.station_links] * energy, atol=1e-12)
    # a station's own price lowers its load in the same period
    periods, stations = sensitivity.station_links.shape
    own = np.array([[jacobian[t, s, s, t] for s in range(stations)] for t in range(periods)])
    assert np.all(own < 0)


def test_a_one_dollar_probe_is_predicted_within_ten_percent() -> None:
    direction = directions()["station in all periods"]
    forward = problem().solve(base_prices() + direction, gap=GAP, max_iterations=5000,
                              warm_start=base())
    exact = forward.station_load_mw - base().station_load_mw
    expansion = load_sensitivity(base()).expand(base_prices() + direction)
    assert expansion.step_per_mwh == pytest.approx(1.0)
    assert not expansion.demand_kink
    predicted = expansion.station_load_mw - base().station_load_mw
    assert np.abs(predicted - exact).max() <= 0.1 * np.abs(exact).max()


def test_residual_flow_is_refused() -> None:
    from dataclasses import replace
    spec = replace(problem().spec, max_shift_periods=0, residual_share=0.2)
    residual = build_multiperiod_problem(spec).solve(base_prices(), gap=1e-8)
    with pytest.raises(InvalidInputError, match="residual_share"):
        load_sensitivity(residual)


@pytest.mark.parametrize("name", list(directions()))
def test_the_factorized_directions_equal_the_conjugate_gradients(name: str) -> None:
    direct = load_sensitivity(base())
    assert direct._factor is not None  # a few hundred columns: factorized
    iterative = load_sensitivity(base(), cg_max_iterations=20_000)
    iterative.__dict__["_factor"] = None  # as past DIRECT_MAX_COLUMNS
    price = base_prices() + directions()[name]
    change = np.abs(iterative.expand(price).station_load_mw - base().station_load_mw).max()
    assert change > 1e-6
    np.testing.assert_allclose(direct.expand(price).station_load_mw,
                               iterative.expand(price).station_load_mw, rtol=0.0,
                               atol=1e-6 * change)
