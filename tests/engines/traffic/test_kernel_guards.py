"""The compiled traffic kernels never see non-finite or astronomical inputs.

A 1e300 ADMM target once overflowed the multi-period model and segfaulted the path-based sweep
(issue 15). The engine now refuses such inputs with :class:`InvalidInputError` naming the array
and the link before any compiled code runs; the messages' bounds
(:mod:`ptn.engines.coupling`) keep legitimate requests far inside.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ptn.engines.coupling import MAX_ABS_PRICE_PER_MWH, MAX_PENALTY_PER_MW2H, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.multiperiod import with_admm_station_terms
from ptn.engines.traffic.path_based import MAX_KERNEL_MAGNITUDE, solve_path_based
from tests.support.traffic_cases import default_traffic

PERIODS = 2


@pytest.mark.parametrize(("value", "shown"), [(1e300, "1e+300"), (math.inf, "inf"),
                                              (math.nan, "nan")])
def test_the_sweep_refuses_unbounded_link_costs(value: float, shown: str) -> None:
    traffic = default_traffic(periods=PERIODS)
    problem = traffic.problem_at(np.full((3, PERIODS), 90.0))
    fixed = problem.links.fixed_cost.copy()
    fixed[5] = value
    with pytest.raises(InvalidInputError) as error:
        solve_path_based(problem.with_fixed_cost(fixed))
    assert f"fixed_cost of link {problem.link_label(5)} is {shown}" in str(error.value)
    assert f"±{MAX_KERNEL_MAGNITUDE:g}" in str(error.value)


def test_prices_beyond_the_bound_are_refused_naming_the_station() -> None:
    traffic = default_traffic(periods=PERIODS)
    prices = np.full((3, PERIODS), 90.0)
    prices[1, 1] = 1e300
    with pytest.raises(InvalidInputError, match=r"station cs10: invalid price 1e\+300 \$/MWh "
                                                r"in period 1"):
        traffic.solve(prices)
    prices[1, 1] = MAX_ABS_PRICE_PER_MWH  # the bound itself is a price
    assert traffic.problem_at(prices).links.fixed_cost.max() > 0


def test_the_station_terms_refuse_what_would_overflow_the_kernels() -> None:
    traffic = default_traffic(periods=PERIODS)
    links, stations = traffic.problem.links, traffic.station_links()
    with pytest.raises(InvalidInputError, match="money term"):
        with_admm_station_terms(links, stations, np.full(stations.shape, 1e300), 1.0,
                                np.zeros(stations.shape), 0.5)
    with pytest.raises(InvalidInputError, match="penalty slope"):
        with_admm_station_terms(links, stations, np.zeros(stations.shape), 1e300,
                                np.zeros(stations.shape), 0.5)


def test_the_largest_legitimate_admm_step_is_solved() -> None:
    """λ, ρ and z at the coupling terms' bounds stay within the kernels' bound."""
    traffic = default_traffic(periods=PERIODS)
    terms = CouplingTerms.consumer(np.full((3, PERIODS), -MAX_ABS_PRICE_PER_MWH),
                                   MAX_PENALTY_PER_MW2H, np.full((3, PERIODS), 1e5), 1.0,
                                   ("cs6", "cs10", "cs11"))
    result = traffic.solve_coupled(terms, gap=1e-6, max_iterations=50)
    assert np.all(np.isfinite(result.station_load_mw))
