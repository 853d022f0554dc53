"""The profit-sharing game's common pieces: stations matched to charging points and stage 1.

Independent numbers: the prescheduling of the private negotiation
(:mod:`ptn.coordinator.mechanisms.profit_sharing`: the TNO and the DSO as separate operators, in
process) against :func:`ptn.lab.references.profit_sharing.game.preschedule`, which holds both
cases; on ``profit-sharing-seed000`` (C0 = 5772.404 $, measured).
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.engines.errors import InvalidInputError
from ptn.lab.references.profit_sharing.follower import solve_follower
from ptn.lab.references.profit_sharing.game import point_of_station, preschedule
from ptn.lab.references.profit_sharing.horizon import slice_horizon
from tests.support.profit_sharing_cases import Cases


def test_prescheduling_is_the_private_searchs(
    cases: Cases, negotiated: ProfitSharingOutcome
) -> None:
    fleet, dso, order = cases
    alone = preschedule(fleet, dso, station_order=order)
    assert alone.status == "optimal"
    assert alone.dso_cost_usd == pytest.approx(negotiated.original_dso_cost_usd, rel=1e-9)
    assert alone.tno_cost_usd == pytest.approx(negotiated.tno_cost_alone_usd, rel=1e-9)
    np.testing.assert_allclose(alone.station_load_mw, negotiated.preschedule_load_mw, atol=1e-9)
    at_zero = solve_follower(fleet, dso, 0.0, station_order=order)
    assert at_zero.selection == "alone"
    assert at_zero.dso_cost_usd == alone.dso_cost_usd


def test_invalid_inputs_are_refused(cases: Cases) -> None:
    fleet, dso, _ = cases
    with pytest.raises(InvalidInputError, match="permutation"):
        point_of_station(fleet, dso, [0, 0, 1])
    assert point_of_station(fleet, dso).tolist() == [0, 1, 2]  # matched by name
    with pytest.raises(InvalidInputError, match="periods"):
        point_of_station(slice_horizon(fleet, dso, 0, 12)[0], dso)
