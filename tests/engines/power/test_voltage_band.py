"""The DSO's voltage band (``voltage_min_pu`` / ``voltage_max_pu``): it replaces the feeder's
own per-bus limits, the OPF meets it (binding where the objective pushes against it), an
over-tight band is an infeasible status rather than an exception, and bad values are errors
naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.runtime.backends import check_operator_parts
from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import ChargingPoint, DsoCase, Renewable
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.result import OpfStatus
from ptn.scenario.document import builtin_scenario_text, load_scenario
from ptn.services.dso.config import dso_config_from_part

#: light loads: without EVs every case33bw voltage stays above 0.95 p.u. in both periods
LIGHT_PROFILE = np.array([0.3, 0.45])
#: a price at which the DSO gladly serves charging load ($/MWh it is paid for the energy)
CHARGING_REWARD_PER_MWH = 500.0
#: voltages (p.u.) computed from v = |V|² at the solver's tolerance
VOLTAGE_ATOL_PU = 1e-6


@pytest.fixture(scope="module")
def ieee33() -> Feeder:
    return load_feeder("case33bw")


def priced_case(feeder: Feeder) -> DsoCase:
    return DsoCase(feeders=(feeder,), periods=2, period_hours=1.0, load_profile=LIGHT_PROFILE,
                   charging_points=(ChargingPoint("cs", 18),))


def rewarded_charging(feeder: Feeder) -> tuple[OpfStatus, np.ndarray, np.ndarray]:
    """(status, voltages [bus, period], charging MW per period) when the DSO is paid to serve
    charging at bus 18: it serves as much as its voltage limits allow."""
    opf = DistFlowOpf(priced_case(feeder), charging="priced")
    result = opf.solve_coupled(CouplingTerms.supplier(np.full((1, 2), CHARGING_REWARD_PER_MWH),
                                                      0.0, np.zeros((1, 2)), 1.0))
    if not result.status.has_solution:
        return result.status, np.empty((0, 2)), np.empty(0)
    return result.status, result.feeders[0].voltage_pu, result.charging_mw["cs"]


def test_band_replaces_the_limits_of_every_bus_but_the_slack(ieee33: Feeder) -> None:
    assert ieee33.v_min_pu[1:].max() == 0.9 and ieee33.v_max_pu[1:].min() == 1.1
    banded = ieee33.with_voltage_band(0.91, 1.05)
    others = np.arange(ieee33.num_buses) != ieee33.slack_bus
    np.testing.assert_array_equal(banded.v_min_pu[others], 0.91)
    np.testing.assert_array_equal(banded.v_max_pu[others], 1.05)
    assert banded.v_min_pu[ieee33.slack_bus] == ieee33.v_min_pu[ieee33.slack_bus]
    # one side only keeps the other side's own limits; the source feeder is untouched
    lower_only = ieee33.with_voltage_band(v_min_pu=0.95)
    np.testing.assert_array_equal(lower_only.v_max_pu, ieee33.v_max_pu)
    assert ieee33.v_min_pu[1] == 0.9


def test_the_opf_meets_a_binding_lower_limit(ieee33: Feeder) -> None:
    status, voltage, charging = rewarded_charging(ieee33)  # the case's own 0.9 p.u.
    assert status == OpfStatus.OPTIMAL
    assert voltage.min(axis=0) == pytest.approx([0.9, 0.9], abs=VOLTAGE_ATOL_PU)
    status, banded_voltage, banded_charging = rewarded_charging(
        ieee33.with_voltage_band(0.95, 1.05))
    assert status == OpfStatus.OPTIMAL
    # the band binds: the lowest voltage sits on it, and less charging is served
    assert banded_voltage.min(axis=0) == pytest.approx([0.95, 0.95], abs=VOLTAGE_ATOL_PU)
    assert banded_voltage.max() <= 1.05 + VOLTAGE_ATOL_PU
    assert np.all(banded_charging < charging - 0.1)


def test_the_opf_meets_a_binding_upper_limit(ieee33: Feeder) -> None:
    """Free PV at the end of a lightly loaded feeder raises its voltage until the band's upper
    limit curtails it. Lossless LinDistFlow: where an upper voltage limit binds, the SOC
    relaxation is typically inexact (it burns the surplus as fictitious losses rather than
    curtail, and says so with the status ``inexact``)."""

    def pv_voltage(feeder: Feeder) -> tuple[float, float]:
        pv = Renewable("pv18", 18, "pv", rated_mw=2.0, profile=np.ones(1),
                       reactive_support=False)
        case = DsoCase(feeders=(feeder,), periods=1, load_profile=np.array([0.3]),
                       renewables=(pv,))
        result = DistFlowOpf(case, formulation="lindistflow").solve()
        assert result.status == OpfStatus.OPTIMAL, result.message
        return float(result.feeders[0].voltage_pu.max()), float(
            result.renewable_curtailed_mw["pv18"][0])

    own_max, own_curtailed = pv_voltage(ieee33)
    assert own_max > 1.03
    banded_max, curtailed = pv_voltage(ieee33.with_voltage_band(0.95, 1.02))
    assert banded_max == pytest.approx(1.02, abs=VOLTAGE_ATOL_PU)
    assert curtailed > own_curtailed + 0.1


def test_an_over_tight_band_is_an_infeasible_status(ieee33: Feeder) -> None:
    status, _, _ = rewarded_charging(ieee33.with_voltage_band(0.99, 1.05))
    assert status == OpfStatus.INFEASIBLE
    opf = DistFlowOpf(priced_case(ieee33.with_voltage_band(0.99, 1.05)), charging="fixed")
    opf.set_charging_load(np.full((1, 2), 0.3))
    result = opf.solve()
    assert result.status == OpfStatus.INFEASIBLE and result.feeders == ()


@pytest.mark.parametrize(
    ("band", "expected"),
    [
        ((float("nan"), None), "v_min_pu must be a finite positive voltage"),
        ((None, -1.05), "v_max_pu must be a finite positive voltage"),
        ((0.0, 1.05), "v_min_pu must be a finite positive voltage"),
        ((None, float("inf")), "v_max_pu must be a finite positive voltage"),
        ((1.05, 1.05), "the lower limit v_min_pu must be below v_max_pu"),
        ((1.2, None), "voltage band [1.2, 1.1] p.u. at bus 2"),
    ],
)
def test_feeder_band_errors(ieee33: Feeder, band: tuple[float | None, float | None],
                            expected: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ieee33.with_voltage_band(*band)
    assert expected in str(caught.value)


def scenario_with(tmp_path: Path, keys: str) -> Path:
    text = builtin_scenario_text("nguyen-dupuis-ieee33")
    assert "\n[dso]\n" in text
    path = tmp_path / "scenario.toml"
    path.write_text(text.replace("\n[dso]\n", f"\n[dso]\n{keys}\n", 1), encoding="utf-8")
    return path


def test_scenario_dso_band(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_with(tmp_path, "voltage_min_pu = 0.95\n"
                                                     "voltage_max_pu = 1.05"))
    check_operator_parts(scenario)
    (feeder,) = dso_config_from_part(scenario.part("dso")).case.feeders
    assert set(feeder.v_min_pu[1:].tolist()) == {0.95}
    assert set(feeder.v_max_pu[1:].tolist()) == {1.05}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("voltage_min_pu = 1.1\nvoltage_max_pu = 1.05",
         "dso.voltage_min_pu: 1.1 p.u. must be below voltage_max_pu (1.05 p.u.)"),
        ("voltage_min_pu = nan", "dso.voltage_min_pu: must be a finite positive voltage"),
        ("voltage_max_pu = -1.0", "dso.voltage_max_pu: must be a finite positive voltage"),
        ("voltage_max_pu = inf", "dso.voltage_max_pu: must be a finite positive voltage"),
        ('voltage_min_pu = "0.95"', "dso.voltage_min_pu: expected a voltage in p.u."),
        ("voltage_max_pu = 0.85",
         "dso.voltage_max_pu: feeder case33bw: voltage band [0.9, 0.85] p.u. at bus 2"),
        ("voltage_band = 0.95", "dso.voltage_band: unknown key"),
    ],
)
def test_scenario_dso_band_errors_name_the_key(tmp_path: Path, keys: str, expected: str) -> None:
    scenario = load_scenario(scenario_with(tmp_path, keys))
    with pytest.raises(InvalidInputError) as caught:
        dso_config_from_part(scenario.part("dso"))
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "scenario.toml"))
