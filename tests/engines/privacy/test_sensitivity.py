"""Sensitivities under an adjacency (ptn.engines.privacy.sensitivity), by brute force.

The largest L1 and L2 distance between neighbouring releases is found here by enumerating the
neighbours' extreme changes (every row, every sign pattern within the bound) on small arrays,
not by the module's formula.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.sensitivity import Adjacency


def brute_force(scope: str, bound: float, rows: int, periods: int) -> tuple[float, float]:
    """max ||X − X'||_1 and ||X − X'||_2 over neighbours X' of X (the vertices suffice: both
    norms are convex in the change)."""
    worst_l1 = worst_l2 = 0.0
    for row in range(rows):
        changed = [(p,) for p in range(periods)] if scope == "one_period" \
            else [tuple(range(periods))]
        for cells in changed:
            for signs in itertools.product((-1.0, 0.0, 1.0), repeat=len(cells)):
                change = np.zeros((rows, periods))
                for cell, sign in zip(cells, signs, strict=True):
                    change[row, cell] = sign * bound
                worst_l1 = max(worst_l1, float(np.abs(change).sum()))
                worst_l2 = max(worst_l2, float(np.sqrt((change**2).sum())))
    return worst_l1, worst_l2


@pytest.mark.parametrize("scope", ["one_period", "one_profile"])
@pytest.mark.parametrize("periods", [1, 3, 6])
def test_sensitivities_match_the_largest_change_between_neighbours(scope: str,
                                                                   periods: int) -> None:
    adjacency = Adjacency(scope, 0.75, "MW")  # type: ignore[arg-type]
    l1, l2 = brute_force(scope, 0.75, rows=3, periods=periods)
    found = adjacency.sensitivity(periods)
    assert found.l1 == pytest.approx(l1, rel=1e-15)
    assert found.l2 == pytest.approx(l2, rel=1e-15)


def test_a_whole_profile_is_worth_more_than_one_period() -> None:
    one = Adjacency("one_period", 2.0, "$/MWh").sensitivity(24)
    whole = Adjacency("one_profile", 2.0, "$/MWh").sensitivity(24)
    assert (one.l1, one.l2) == (2.0, 2.0)
    assert (whole.l1, whole.l2) == (48.0, pytest.approx(2.0 * math.sqrt(24)))


def test_the_adjacency_in_words_names_bound_and_unit() -> None:
    assert Adjacency("one_period", 0.5, "MW").describe() == \
        "one row changed by up to 0.5 MW in one period"


@pytest.mark.parametrize(("build", "named"), [
    (lambda: Adjacency("one_station", 1.0, "MW"), "adjacency"),
    (lambda: Adjacency("one_period", 0.0, "MW"), "MW"),
    (lambda: Adjacency("one_period", math.inf, "MW"), "bound"),
    (lambda: Adjacency("one_period", 1.0, "MW").sensitivity(0), "periods"),
])
def test_bad_adjacencies_are_refused_by_name(build: object, named: str) -> None:
    assert callable(build)
    with pytest.raises(InvalidInputError, match=named):
        build()
