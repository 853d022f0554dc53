"""One operator's releases (ptn.engines.privacy.release): the plan's noise from the operator's
own stream, charged round by round, refused past the budget, exact at ε = ∞.

The noise is checked against draws made here from the stream the settings name and the
scale the split gives; refusal against the plan's round count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.noise import noise_generator
from ptn.engines.privacy.release import PrivateRelease
from ptn.engines.privacy.settings import laplace_round_epsilon, parse_privacy

TABLE: dict[str, Any] = {"mechanism": "laplace", "epsilon": 1.0, "delta": 0.0, "rounds": 4,
                         "seed": 3, "protect": ["station_loads", "prices"],
                         "adjacency": "one_profile", "load_mw": 0.5, "price_per_mwh": 5.0}
LOADS = np.array([[1.0, 2.0, 0.5], [0.0, 0.25, 3.0]])


def releaser(table: dict[str, Any], role: str = "traffic", operator_id: str = "traffic",
             datum: str = "station_loads") -> PrivateRelease:
    return PrivateRelease(parse_privacy(table), role, operator_id, datum,  # type: ignore[arg-type]
                          periods=3, default_rounds=10)


def test_each_round_adds_the_planned_laplace_noise_from_the_operators_stream() -> None:
    mine = releaser(TABLE)
    expected = noise_generator(3, "traffic/station_loads")
    scale = 3 * 0.5 / (1.0 / 4)  # Δ1 = T·δ for one_profile, ε/rounds at δ = 0
    for round_number in range(1, 5):
        answer = mine.release(LOADS)
        assert answer.status == "released" and answer.values is not None
        noise = expected.laplace(0.0, scale, size=LOADS.shape)
        np.testing.assert_allclose(answer.values, LOADS + noise, rtol=0, atol=1e-12)
        assert answer.spent.rounds == round_number
        assert answer.spent.epsilon == pytest.approx(round_number * 0.25)


def test_past_the_budget_a_release_is_refused_without_values_or_draws() -> None:
    mine = releaser(TABLE)
    for _ in range(4):
        assert mine.release(LOADS).status == "released"
    state = mine.generator.bit_generator.state
    answer = mine.release(LOADS)
    assert answer.status == "refused" and answer.values is None
    assert "round 5" in answer.reason and answer.spent.rounds == 4
    assert mine.generator.bit_generator.state == state


def test_operators_of_one_role_draw_independent_noise() -> None:
    table = {**TABLE, "delta": 1e-6}
    one = releaser(table, "cno", "cno1", "prices").release(LOADS).values
    two = releaser(table, "cno", "cno2", "prices").release(LOADS).values
    again = releaser(table, "cno", "cno1", "prices").release(LOADS).values
    assert one is not None and two is not None and again is not None
    assert np.array_equal(one, again) and not np.allclose(one, two)
    scale = 3 * 5.0 / laplace_round_epsilon(1.0, 1e-6, 4)
    expected = noise_generator(3, "cno2/prices").laplace(0.0, scale, size=LOADS.shape)
    np.testing.assert_allclose(two, LOADS + expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("table", [{**TABLE, "epsilon": math.inf},
                                   {**TABLE, "epsilon": math.inf, "mechanism": "gaussian",
                                    "delta": 1e-6},
                                   {**TABLE, "mechanism": "none"},
                                   {**{k: v for k, v in TABLE.items() if k != "load_mw"},
                                    "protect": ["prices"]}, {}])
def test_without_privacy_every_round_sends_the_values_exactly(table: dict[str, Any]) -> None:
    mine = releaser(table)
    for _ in range(12):  # more rounds than planned: nothing to refuse
        answer = mine.release(LOADS)
        assert answer.status == "released" and answer.values is not None
        assert answer.values.tobytes() == LOADS.tobytes()


def test_a_role_that_does_not_own_the_datum_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="role 'traffic' does not own prices"):
        releaser(TABLE, "traffic", "traffic", "prices")


@pytest.mark.parametrize("values", [np.ones((2, 4)), np.float64(1.0), [[1.0, np.nan, 0.0]]])
def test_values_of_the_wrong_shape_or_not_finite_are_refused(values: Any) -> None:
    with pytest.raises(InvalidInputError, match="values"):
        releaser(TABLE).release(values)
