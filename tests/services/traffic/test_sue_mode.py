"""The traffic department in SUE mode (``assignment = "sue"``, seed 002), through its host.

The default scenario's ``[traffic]`` table switched to the per-period logit SUE: the operator
answers ConsensusStep and RespondToPrices with the SUE model's station loads (schema layout,
stations x periods), reports ``Δt ×`` Fisk's objective without charging money, warm-starts each
request from the previous one, and refuses bad or meaningless keys naming file and key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import InProcessEndpoint
from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.sue_periods import DEFAULT_THETA_PER_DOLLAR, SuePeriodsProblem
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import ScenarioPart, load_scenario, scenario_from_text
from ptn.services.host import OperatorHost
from ptn.services.traffic.config import traffic_config_from_part
from ptn.services.traffic.model import TrafficDepartmentModel

SCENARIO = load_scenario()
STATIONS = SCENARIO.public.stations
PERIODS = SCENARIO.public.periods
#: the default scenario's UE-only keys (departure shifting, the UE's gap)
UE_ONLY = ("max_shift_periods", "shift_cost_per_period", "equilibrium_gap")


def sue_part(**changes: Any) -> ScenarioPart:
    """The default scenario's traffic part in SUE mode, with ``changes`` to its table."""
    part = SCENARIO.part("traffic")
    data = {key: value for key, value in part.data.items() if key not in UE_ONLY}
    data["assignment"] = "sue"
    data.update(changes)
    return replace(part, data=data)


def _header(request_id: str) -> common_pb2.RequestHeader:
    return common_pb2.RequestHeader(negotiation_id="n1", operator_id="traffic",
                                    request_id=request_id)


def _series(values: np.ndarray) -> common_pb2.StationSeries:
    return to_series(STATIONS, values)


def test_sue_mode_answers_consensus_steps_and_reports_fisk_potential() -> None:
    config = traffic_config_from_part(sue_part())
    assert config.assignment == "sue" and config.sue is not None
    assert config.sue.method == "msa" and config.sue.warm_start
    assert config.sue.theta_per_dollar == DEFAULT_THETA_PER_DOLLAR
    assert config.spec.max_shift_periods == 0
    model = TrafficDepartmentModel(config)
    endpoint = InProcessEndpoint(OperatorHost(model))

    early = endpoint.call("ReportCost", common_pb2.CostRequest(header=_header("c0")), 30.0)
    assert early.header.status == common_pb2.STATUS_INVALID_REQUEST

    shape = (len(STATIONS), PERIODS)
    price = np.full(shape, 85.0) + np.arange(len(STATIONS))[:, None] * 10.0
    target = np.full(shape, 0.3)
    step = common_pb2.ConsensusStep(header=_header("s1"), price_per_mwh=_series(price),
                                    target_load_mw=_series(target), penalty_per_mw2h=50.0)
    reply = endpoint.call("ConsensusStep", step, 60.0)
    assert reply.header.status == common_pb2.STATUS_OK, reply.header.message
    load = from_series(reply.load_mw, STATIONS, PERIODS, "load")
    # the same ADMM step computed directly with the engine, in the schema's layout
    reference = SuePeriodsProblem(config.sue).solve_coupled(
        CouplingTerms.consumer(price, 50.0, target, SCENARIO.public.period_hours, STATIONS))
    assert np.allclose(load, reference.station_load_mw, rtol=0, atol=1e-12)
    # every EV charges once: the loads add up to the EV demand x 45 kWh in every period
    ev = config.sue.ev_demand_veh_per_h.sum(axis=1)
    assert np.allclose(load.sum(axis=0), ev * config.spec.charging.energy_per_charge_mwh)

    cost = endpoint.call("ReportCost", common_pb2.CostRequest(header=_header("c1")), 30.0)
    assert cost.header.status == common_pb2.STATUS_OK
    assert cost.cost == pytest.approx(SCENARIO.public.period_hours * reference.potential,
                                      rel=1e-12)

    # the next round starts every period from this round's equilibrium: far fewer iterations
    first = model._last_sue
    assert first is not None
    step.header.request_id = "s2"
    step.target_load_mw.CopyFrom(_series(target + 0.01))
    again = endpoint.call("ConsensusStep", step, 60.0)
    assert again.header.status == common_pb2.STATUS_OK
    second = model._last_sue
    assert second is not None and second is not first
    assert second.total_iterations < 0.5 * first.total_iterations

    signal = common_pb2.PriceSignal(header=_header("p1"), price_per_mwh=_series(price))
    priced = endpoint.call("RespondToPrices", signal, 60.0)
    assert priced.header.status == common_pb2.STATUS_OK
    expected = SuePeriodsProblem(config.sue).solve(price).station_load_mw
    assert np.allclose(from_series(priced.load_mw, STATIONS, PERIODS, "load"), expected,
                       atol=0.02)  # MSA from another start: equal within its stopping test


def test_the_default_scenario_stays_in_ue_mode() -> None:
    config = traffic_config_from_part(SCENARIO.part("traffic"))
    assert config.assignment == "ue" and config.sue is None
    assert config.spec.max_shift_periods == 1


def test_sue_keys_are_read_from_the_scenario_file() -> None:
    old = "max_shift_periods = 1\nshift_cost_per_period = 3.0\nequilibrium_gap = 1e-10"
    assert old in SCENARIO.text
    new = ('assignment = "sue"\nsue_theta = 0.5\nsue_method = "newton"\nsue_tolerance = 1e-6\n'
           "sue_warm_start = false\nsue_max_iterations = 50")
    scenario = scenario_from_text(SCENARIO.text.replace(old, new, 1), source="sue.toml",
                                  base_directory=SCENARIO.parts["traffic"].base_directory)
    sue = traffic_config_from_part(scenario.part("traffic")).sue
    assert sue is not None
    assert (sue.theta_per_dollar, sue.method, sue.tolerance_veh_per_h, sue.warm_start,
            sue.max_iterations) == (0.5, "newton", 1e-6, False, 50)
    bad = scenario_from_text(SCENARIO.text.replace(old, new.replace("0.5", "-1.0"), 1),
                             source="sue.toml",
                             base_directory=SCENARIO.parts["traffic"].base_directory)
    with pytest.raises(InvalidInputError, match=r"^sue\.toml: traffic\.sue_theta: must be "
                                                r"positive"):
        traffic_config_from_part(bad.part("traffic"))


@pytest.mark.parametrize(("changes", "key", "message"), [
    ({"assignment": "wardrop"}, "assignment", "unknown assignment 'wardrop'"),
    ({"sue_theta": 0.0}, "sue_theta", "must be positive"),
    ({"sue_theta": "large"}, "sue_theta", "expected a number"),
    ({"sue_method": "frank-wolfe"}, "sue_method", "unknown SUE method"),
    ({"sue_method": "line-search"}, "sue_method", "unknown per-period SUE method"),
    ({"sue_tolerance": -1.0}, "sue_tolerance", "must be positive"),
    ({"sue_warm_start": "yes"}, "sue_warm_start", "expected true or false"),
    ({"sue_max_iterations": 0}, "sue_max_iterations", "must be at least 1"),
    ({"max_shift_periods": 1}, "max_shift_periods", "no departure shifting"),
    ({"price_sensitivity": 1.5}, "price_sensitivity", "inelastic EV demand"),
    ({"price_sensitivity": [0.0] * 23 + [1.0]}, "price_sensitivity", "inelastic EV demand"),
    ({"shift_cost_per_period": 3.0}, "shift_cost_per_period", 'not used with assignment = "sue"'),
    ({"equilibrium_gap": 1e-8}, "equilibrium_gap", "sue_tolerance"),
    ({"max_iterations": 100}, "max_iterations", "sue_max_iterations"),
])
def test_bad_sue_keys_name_file_and_key(changes: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        traffic_config_from_part(sue_part(**changes))
    text = str(error.value)
    assert text.startswith(f"{SCENARIO.source}: traffic.{key}: "), text
    assert message in text


def test_sue_keys_are_refused_in_ue_mode() -> None:
    part = SCENARIO.part("traffic")
    ue = replace(part, data={**part.data, "sue_theta": 0.5})
    with pytest.raises(InvalidInputError, match=r"traffic\.sue_theta: only used with "
                                                r'assignment = "sue"'):
        traffic_config_from_part(ue)


def test_zero_shifting_and_sensitivity_are_accepted_in_sue_mode() -> None:
    config = traffic_config_from_part(sue_part(max_shift_periods=0, price_sensitivity=0.0))
    assert config.assignment == "sue"
