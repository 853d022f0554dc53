"""Fixtures the profit-sharing reference tests share: the seed 000 instance, one follower model
and the private negotiation at a few shares, each built once for the package (as when the tests
were one module)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.lab.references.profit_sharing.follower import FollowerModel
from ptn.lab.references.profit_sharing.horizon import slice_horizon
from ptn.scenario.document import Scenario, load_scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.tno.config import tno_case_from_part
from tests.support import with_settings
from tests.support.profit_sharing_cases import (
    BREAKPOINT,
    INTERIOR_SHARES,
    MIP_WINDOW,
    SCENARIO,
    Cases,
)


@pytest.fixture(scope="package")
def scenario() -> Scenario:
    return load_scenario(SCENARIO)


@pytest.fixture(scope="package")
def cases(scenario: Scenario) -> Cases:
    config = dso_config_from_part(scenario.part("dso"))
    return tno_case_from_part(scenario.part("tno")), config.case, config.point_order


@pytest.fixture(scope="package")
def mip_window(cases: Cases) -> Cases:
    """The seed with the per-bus MILP fleet (``fleet_model = "bus-mip"``), periods 16-22."""
    fleet, dso, order = cases
    return (*slice_horizon(replace(fleet, fleet_model="bus-mip"), dso, *MIP_WINDOW), order)


@pytest.fixture(scope="package")
def model(cases: Cases) -> FollowerModel:
    fleet, dso, order = cases
    return FollowerModel(fleet, dso, station_order=order)


@pytest.fixture(scope="package")
def negotiated(scenario: Scenario) -> ProfitSharingOutcome:
    """The private negotiation at a few shares, without refinement."""
    scenario = with_settings(scenario, shares=[0.0, BREAKPOINT, *INTERIOR_SHARES],
                             refine_tolerance=1.0)
    return negotiate(scenario, inproc_endpoints(scenario))
