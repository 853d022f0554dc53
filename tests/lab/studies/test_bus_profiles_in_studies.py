"""The studies' reading of a DSO case with per-bus load profiles: the feeder's base load per
period (seed 002's ``P_D``) summed bus by bus, and a demand-response device's bus load."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ptn.engines.power.builtin_feeders import load_feeders
from ptn.engines.power.der import BusLoadProfile, DemandResponse, DsoCase
from ptn.lab.studies.der_comparison import base_load_mw

PROFILE = np.array([1.0, 0.7, 0.5, 0.8])


def case_with_own_shapes() -> tuple[DsoCase, dict[int, np.ndarray]]:
    feeder = load_feeders("case33bw")[0]
    own = {18: np.array([0.2, 1.5, 2.0, 0.1]), 25: np.array([1.0, 1.0, 3.0, 1.0])}
    profiles = tuple(BusLoadProfile(bus, values) for bus, values in own.items())
    dr = (DemandResponse("dr18", 18, max_shift_fraction=0.3, incentive_per_mwh=1.0),)
    case = DsoCase(feeders=(feeder,), periods=4, load_profile=PROFILE, demand_response=dr,
                   bus_load_profiles=profiles)
    return case, own


def test_the_base_load_is_summed_bus_by_bus() -> None:
    case, own = case_with_own_shapes()
    feeder = case.feeders[0]
    expected = np.zeros(4)
    for k, label in enumerate(feeder.bus_ids):  # a plain loop over the buses
        expected += feeder.load_p_mw[k] * own.get(int(label), PROFILE)
    np.testing.assert_allclose(base_load_mw(case), expected, rtol=1e-12)
    plain = replace(case, bus_load_profiles=())
    np.testing.assert_allclose(base_load_mw(plain), feeder.total_load_mw * PROFILE, rtol=1e-12)


def test_a_devices_bus_load_follows_its_own_shape() -> None:
    case, own = case_with_own_shapes()
    feeder = case.feeders[0]
    bus = list(feeder.bus_ids).index(18)
    np.testing.assert_allclose(case.demand_response_load_mw()[0],
                               feeder.load_p_mw[bus] * own[18], rtol=1e-12)
    np.testing.assert_allclose(case.demand_response_limits_mw()[0],
                               0.3 * feeder.load_p_mw[bus] * own[18], rtol=1e-12)
