"""The ``[traffic]`` table's ``residual_share`` key (seed 003's semi-dynamic assignment).

Read from the default scenario's traffic part (Nguyen–Dupuis, 24 periods) with changes: the key
reaches the model (the department's answers carry the residual, its loads stay each EV trip's
single charge), bad values are refused naming file and key, and without the key nothing
changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import ScenarioPart, load_scenario
from ptn.services.traffic.config import traffic_config_from_part
from ptn.services.traffic.model import TrafficDepartmentModel

SCENARIO = load_scenario()
PERIODS = SCENARIO.public.periods


def traffic_part(**changes: Any) -> ScenarioPart:
    part = SCENARIO.part("traffic")
    return replace(part, data={**part.data, **changes})


def test_residual_share_reaches_the_department() -> None:
    config = traffic_config_from_part(traffic_part(max_shift_periods=0, residual_share=0.2))
    np.testing.assert_array_equal(config.spec.residual_share, np.full(PERIODS, 0.2))
    model = TrafficDepartmentModel(config)
    price = np.full((len(config.station_names), PERIODS), 100.0)
    reply = model.respond_to_prices(price)
    last = model._last
    assert last is not None and last.converged
    residual = last.residual
    # 20 % of every period's vehicles go on into the next; the last period's leave the horizon
    np.testing.assert_allclose(residual.carried_out_veh_per_h,
                               0.2 * residual.on_network_veh_per_h, rtol=1e-12)
    np.testing.assert_allclose(residual.carried_in_veh_per_h[1:],
                               residual.carried_out_veh_per_h[:-1], rtol=1e-12)
    # what leaves the department is the station loads alone: each EV trip charges once
    energy = config.spec.charging.energy_per_charge_mwh
    assert reply.load_mw.sum() == pytest.approx(last.ev_demand_veh_per_h.sum() * energy,
                                                rel=1e-9)


def test_a_list_gives_one_share_per_period() -> None:
    shares = [0.0] * 12 + [0.3] * 12
    config = traffic_config_from_part(traffic_part(max_shift_periods=0, residual_share=shares))
    np.testing.assert_array_equal(config.spec.residual_share, shares)


def test_without_the_key_nothing_is_carried() -> None:
    config = traffic_config_from_part(SCENARIO.part("traffic"))
    assert not config.spec.has_residual_flow
    assert config.spec.max_shift_periods == SCENARIO.part("traffic").data["max_shift_periods"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"residual_share": 0.2}, "it needs max_shift_periods = 0 (got 1"),
    ({"max_shift_periods": 0, "residual_share": 1.0}, "must be below 1"),
    ({"max_shift_periods": 0, "residual_share": -0.1}, "must be >= 0"),
    ({"max_shift_periods": 0, "residual_share": "some"}, "expected a number"),
    ({"max_shift_periods": 0, "residual_share": [0.1] * 5}, ""),
    ({"assignment": "sue", "max_shift_periods": 0, "shift_cost_per_period": None,
      "equilibrium_gap": None, "residual_share": 0.1}, 'not used with assignment = "sue"'),
])
def test_bad_residual_shares_name_file_and_key(changes: dict[str, Any], message: str) -> None:
    part = traffic_part(**changes)
    part = replace(part, data={k: v for k, v in part.data.items() if v is not None})
    with pytest.raises(InvalidInputError) as error:
        traffic_config_from_part(part)
    text = str(error.value)
    assert text.startswith(f"{SCENARIO.source}: traffic.residual_share"), text
    assert message in text
