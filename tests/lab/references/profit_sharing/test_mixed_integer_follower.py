"""The follower's joint problem with the per-bus MILP fleet (issue 17), on a window of the seed.

Scenario: ``profit-sharing-seed000`` with ``fleet_model = "bus-mip"``, sliced to periods 16-22.
Independent checks: the follower's C_DSO is the DSO's own fixed-load dispatch of the follower's
station loads (a separate LinDistFlow solve); its visits are whole; C_DSO can only fall and
C_TNO only rise as ρ grows (the optimality inequalities at two shares, for any optimum); the
TNO's own plan at ρ bounds the follower's value. The KKT reference refuses a MILP follower.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.lab.references.profit_sharing.follower import FollowerModel, FollowerSolution
from ptn.lab.references.profit_sharing.game import dispatch_fixed
from ptn.lab.references.profit_sharing.kkt import solve_bilevel_kkt
from tests.support.profit_sharing_cases import Cases

SHARES = (0.1, 0.3, 0.8)


@pytest.fixture(scope="module")
def solutions(mip_window: Cases) -> tuple[FollowerModel, list[FollowerSolution]]:
    fleet, dso, order = mip_window
    model = FollowerModel(fleet, dso, station_order=order)
    return model, [model.solve(share) for share in SHARES]


def test_the_milp_follower_reports_the_dsos_own_dispatch_cost(
        mip_window: Cases, solutions: tuple[FollowerModel, list[FollowerSolution]]) -> None:
    _, dso, _ = mip_window
    model, answers = solutions
    assert model.solver == "SCIP"
    for answer in answers:
        assert answer.status == "optimal", answer.message
        dispatch = dispatch_fixed(dso, answer.station_load_mw, model.point, "lindistflow")
        assert answer.dso_cost_usd == pytest.approx(float(dispatch.objective), abs=1e-4)
        limit = model.fleet_case.station_power_max_mw()[:, None]
        assert np.all(answer.station_load_mw >= -1e-9)
        assert np.all(answer.station_load_mw <= limit + 1e-9)


def test_the_milp_response_is_monotone_and_bounded_by_the_tnos_own_plan(
        solutions: tuple[FollowerModel, list[FollowerSolution]]) -> None:
    model, answers = solutions
    alone = model.prescheduling()
    assert alone.status == "optimal"
    for low, high in itertools.pairwise(answers):
        assert high.dso_cost_usd <= low.dso_cost_usd + 1e-4
        assert high.tno_cost_usd >= low.tno_cost_usd - 1e-4
    for answer in answers:
        # the TNO's plan alone is feasible for the follower at every share
        assert answer.objective_usd <= alone.tno_cost_usd + answer.share * alone.dso_cost_usd \
            + 1e-4
    # the share moves the response on this window (the checks above are not vacuous)
    assert answers[-1].dso_cost_usd < answers[0].dso_cost_usd - 1.0


def test_the_kkt_reference_refuses_a_milp_follower(mip_window: Cases) -> None:
    fleet, dso, order = mip_window
    with pytest.raises(InvalidInputError, match="needs an LP follower"):
        solve_bilevel_kkt(fleet, dso, station_order=order)

