"""A scenario's horizon resampled to fewer periods (``--periods``), the studies' reduced horizon.

Checked against the engines' own daily resampling (:func:`ptn.engines.power.profiles.daily_profile`)
and against the operators built from the resampled parts.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.profiles import daily_profile
from ptn.scenario.document import load_scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.traffic.config import traffic_config_from_part


def test_the_day_is_kept_in_fewer_longer_periods() -> None:
    full = load_scenario("nguyen-dupuis-ieee33")
    reduced = load_scenario("nguyen-dupuis-ieee33", periods=4)
    assert full.resampled_periods is None and reduced.resampled_periods == 4
    assert (reduced.public.periods, reduced.public.period_hours) == (4, 6.0)
    for part in reduced.parts.values():
        assert part.public == reduced.public
    dso = dso_config_from_part(reduced.part("dso")).case
    assert (dso.periods, dso.period_hours) == (4, 6.0)
    hourly = np.asarray(full.part("dso").data["upstream"]["prices_per_mwh"], dtype=float)
    np.testing.assert_allclose(dso.upstream_price_per_mwh, hourly.reshape(4, 6).mean(axis=1))
    np.testing.assert_allclose(dso.upstream_price_per_mwh, daily_profile(hourly.tolist(), 4))
    traffic = traffic_config_from_part(reduced.part("traffic"))
    assert traffic.period_hours == 6.0
    assert traffic.spec.num_periods == 4
    hourly_demand = traffic_config_from_part(full.part("traffic")).spec.gv_demand_veh_per_h
    np.testing.assert_allclose(traffic.spec.gv_demand_veh_per_h,
                               hourly_demand.reshape(4, 6, -1).mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize("periods", [0, -3, 2.5, True])
def test_bad_period_counts_are_refused(periods: object) -> None:
    with pytest.raises(InvalidInputError, match="--periods"):
        load_scenario("nguyen-dupuis-ieee33", periods=periods)  # type: ignore[arg-type]
