"""Both profit-sharing cases cut to a window of periods (the KKT's smaller instances).

Scenario: ``profit-sharing-seed000`` (24 h). The window's per-period data are checked against
the day's own rows, read from the unsliced cases.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import BusLoadProfile
from ptn.lab.references.profit_sharing.horizon import slice_horizon
from tests.support.profit_sharing_cases import Cases


def test_the_window_holds_the_days_periods(cases: Cases) -> None:
    fleet, dso, _ = cases
    window_fleet, window_dso = slice_horizon(fleet, dso, 16, 22)
    assert window_fleet.periods == window_dso.periods == 6
    np.testing.assert_array_equal(window_fleet.tariff_per_mwh, fleet.tariff_per_mwh[16:22])
    for cut, day in zip(window_fleet.lines, fleet.lines, strict=True):
        np.testing.assert_array_equal(cut.round_trips_per_period,
                                      day.round_trips_per_period[16:22])
        np.testing.assert_array_equal(cut.service_share, day.service_share[16:22])
    np.testing.assert_array_equal(window_dso.load_profile, dso.load_profile[16:22])
    if dso.upstream_price_per_mwh is not None:
        assert window_dso.upstream_price_per_mwh is not None
        np.testing.assert_array_equal(window_dso.upstream_price_per_mwh,
                                      dso.upstream_price_per_mwh[16:22])
    for cut_unit, day_unit in zip(window_dso.renewables, dso.renewables, strict=True):
        np.testing.assert_array_equal(cut_unit.profile, day_unit.profile[16:22])


def test_invalid_inputs_are_refused(cases: Cases) -> None:
    fleet, dso, _ = cases
    with pytest.raises(InvalidInputError, match="start"):
        slice_horizon(fleet, dso, 5, 5)


def test_the_window_keeps_each_buss_own_shape(cases: Cases) -> None:
    fleet, dso, _ = cases
    feeder = dso.feeders[0]
    bus = next(int(label) for k, label in enumerate(feeder.bus_ids)
               if k != feeder.slack_bus and feeder.load_p_mw[k] > 0)
    shape = np.linspace(0.5, 1.5, dso.periods)
    own = replace(dso, bus_load_profiles=(BusLoadProfile(bus, shape),))
    _, window_dso = slice_horizon(fleet, own, 16, 22)
    assert [p.bus for p in window_dso.bus_load_profiles] == [bus]
    np.testing.assert_array_equal(window_dso.bus_load_profiles[0].multipliers, shape[16:22])
