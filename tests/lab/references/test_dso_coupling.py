"""The DSO's OPF coupled to station flows, checked against the DSO's OPF alone.

Instance: the default scenario's traffic (Nguyen–Dupuis over 24 h, stations cs6/cs10/cs11,
:func:`tests.support.traffic_cases.default_traffic`) and case33bw at half its loads with the
charging points listed in another order than the stations (cs11 at bus 32, cs6 at 16, cs10 at
20), so that the station-to-point mapping matters. The station flows are fixed numbers: the
coupled model is then the DSO's OPF at the loads ``E_B × flow``, and its coupling multipliers must
be the DLMPs the fixed-load OPF (solved separately, :func:`tests.support.power_cases.dso_alone`)
reports at the charging buses.
"""

from __future__ import annotations

import dataclasses

import cvxpy as cp
import numpy as np
import pytest

from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import ChargingPoint, DsoCase
from ptn.engines.power.result import OpfStatus
from ptn.lab.references.dso_coupling import couple_dso, dispatch_notes
from ptn.lab.references.solver_attempts import joint_solver_attempts, solve_in_turn
from tests.support.power_cases import by_name, dso_alone
from tests.support.traffic_cases import default_traffic

POINTS = {"cs11": 32, "cs6": 16, "cs10": 20}
PERIODS = 24


def test_coupled_opf_at_fixed_flows_is_the_fixed_load_opf() -> None:
    traffic = default_traffic()
    case = DsoCase(feeders=(load_feeder("case33bw"),), periods=PERIODS, period_hours=1.0,
                   load_profile=np.full(PERIODS, 0.5),
                   charging_points=tuple(ChargingPoint(name, bus) for name, bus in POINTS.items()))
    names = traffic.spec.charging.station_names
    station_flow = np.random.default_rng(0).uniform(2.0, 8.0, size=(PERIODS, len(names)))
    flow = np.zeros(traffic.problem.num_links)
    flow[traffic.station_links()] = station_flow  # veh/h, [period, station]
    coupling = couple_dso(traffic, case, cp.Constant(flow))
    assert [names[s] for s in coupling.station_of_point] == list(coupling.opf.charging_names) \
        == list(POINTS)
    model = cp.Problem(cp.Minimize(coupling.embedding.cost_usd),
                       [*coupling.embedding.constraints, coupling.constraint])
    status, message, _ = solve_in_turn(model, "CLARABEL",
                                       joint_solver_attempts("CLARABEL", None), "the OPF")
    assert status == "optimal", message
    load = 0.045 * station_flow.T  # E_B = 0.045 MWh per charge; [station, period]
    charging = np.asarray(coupling.embedding.charging_mw.value)  # [point, period]
    np.testing.assert_allclose(charging, load[[names.index(p) for p in POINTS]], atol=1e-9)
    alone = dso_alone(case, names, load)
    np.testing.assert_allclose(coupling.price_per_mwh(),
                               by_name(alone.charging_dlmp_per_mwh, names), rtol=0, atol=1e-3)
    dispatch = coupling.embedding.read_result()
    assert dispatch.objective == pytest.approx(alone.objective, rel=1e-6)
    assert dispatch_notes(dispatch) == (True, [])
    inexact = dataclasses.replace(dispatch, status=OpfStatus.INEXACT, message="a gap of 1e-3")
    assert dispatch_notes(inexact) == (False, ["a gap of 1e-3"])
