"""Per-bus load profiles: each bus's own multiplier of its base load per period.

Checked against independent constructions: the same loads written as one global profile, a
single-period OPF on a feeder whose base loads are the scaled ones, pandapower's AC power flow
of the dispatch, and the period in which a voltage limit binds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeders
from ptn.engines.power.bus_load_profiles import read_bus_load_profiles
from ptn.engines.power.der import BusLoadProfile, DemandResponse, DsoCase, MicroTurbine
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.exactness import check_with_ac_power_flow
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.feeder_blocks import FeederwiseOpf
from ptn.engines.power.result import OpfStatus

PROFILE = np.array([1.0, 0.7, 0.5, 0.8])
T = PROFILE.size


def ieee33() -> Feeder:
    return load_feeders("case33bw")[0]


def write_long(path: Path, rows: list[tuple[object, ...]], feeder: bool = True) -> Path:
    header = "feeder,bus,period,multiplier" if feeder else "bus,period,multiplier"
    lines = [header] + [",".join(str(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def loaded_buses(feeder: Feeder) -> list[int]:
    return [int(label) for k, label in enumerate(feeder.bus_ids)
            if k != feeder.slack_bus and (feeder.load_p_mw[k] or feeder.load_q_mvar[k])]


def test_a_file_repeating_the_global_profile_gives_the_same_dispatch(tmp_path: Path) -> None:
    feeder = ieee33()
    rows = [("case33bw", bus, t, PROFILE[t]) for bus in loaded_buses(feeder) for t in range(T)]
    profiles = read_bus_load_profiles(write_long(tmp_path / "loads.csv", rows), (feeder,), T)
    assert len(profiles) == 32
    dr = (DemandResponse("dr", 18, max_shift_fraction=0.3, incentive_per_mwh=1.0),)
    plain = DsoCase(feeders=(feeder,), periods=T, load_profile=PROFILE, demand_response=dr,
                    upstream_price_per_mwh=np.array([40.0, 80.0, 30.0, 60.0]))
    own = replace(plain, bus_load_profiles=profiles)
    first, second = DistFlowOpf(plain).solve(), DistFlowOpf(own).solve()
    assert first.status is second.status is OpfStatus.OPTIMAL
    assert second.objective == pytest.approx(first.objective, rel=1e-9)
    a, b = first.feeders[0], second.feeders[0]
    assert np.max(np.abs(a.slack_p_mw - b.slack_p_mw)) < 1e-9
    assert np.max(np.abs(a.voltage_pu - b.voltage_pu)) < 1e-9
    assert np.max(np.abs(a.net_load_p_mw - b.net_load_p_mw)) < 1e-9
    assert np.max(np.abs(first.demand_response_shift_mw["dr"]
                         - second.demand_response_shift_mw["dr"])) < 1e-9
    # and the demand-response limits are the per-bus ones (here equal to the global ones)
    np.testing.assert_array_equal(own.demand_response_limits_mw(),
                                  plain.demand_response_limits_mw())


def test_doubling_one_bus_in_one_period_is_the_opf_of_that_period_with_the_bus_doubled(
        tmp_path: Path) -> None:
    """Period 2 of the multi-period OPF (nothing couples the periods) against a one-period
    OPF of the feeder whose base loads are that period's, bus 18's doubled."""
    feeder = ieee33()
    bus, period = 18, 2
    shape = PROFILE.copy()
    shape[period] *= 2.0
    path = write_long(tmp_path / "loads.csv", [(bus, t, shape[t]) for t in range(T)],
                      feeder=False)
    case = DsoCase(feeders=(feeder,), periods=T, load_profile=PROFILE,
                   bus_load_profiles=read_bus_load_profiles(path, (feeder,), T))
    result = DistFlowOpf(case).solve()
    assert result.status is OpfStatus.OPTIMAL
    k = feeder.bus_index(bus)
    scaled_p = feeder.load_p_mw * PROFILE[period]
    scaled_q = feeder.load_q_mvar * PROFILE[period]
    scaled_p[k] *= 2.0
    scaled_q[k] *= 2.0
    single = DsoCase(feeders=(feeder.with_loads(scaled_p, scaled_q),), periods=1,
                     load_profile=np.ones(1))
    reference = DistFlowOpf(single).solve()
    assert reference.status is OpfStatus.OPTIMAL
    got, want = result.feeders[0], reference.feeders[0]
    assert got.slack_p_mw[period] == pytest.approx(want.slack_p_mw[0], rel=1e-7)
    assert np.max(np.abs(got.voltage_pu[:, period] - want.voltage_pu[:, 0])) < 1e-7
    assert got.net_load_p_mw[k, period] == pytest.approx(2.0 * PROFILE[period]
                                                         * feeder.load_p_mw[k], rel=1e-7)
    # the other periods are the global profile's
    plain = DistFlowOpf(replace(case, bus_load_profiles=())).solve().feeders[0]
    others = [t for t in range(T) if t != period]
    assert np.max(np.abs(plain.slack_p_mw[others] - got.slack_p_mw[others])) < 1e-7
    # the import grows by at least the added load (plus its losses)
    assert got.slack_p_mw[period] > plain.slack_p_mw[period] \
        + feeder.load_p_mw[k] * PROFILE[period]


def test_the_ac_power_flow_agrees_with_a_per_bus_dispatch(tmp_path: Path) -> None:
    feeder = ieee33()
    rng = np.random.default_rng(7)
    rows = [("case33bw", bus, t, round(float(rng.uniform(0.3, 1.4)), 3))
            for bus in loaded_buses(feeder)[::3] for t in range(T)]
    case = DsoCase(feeders=(feeder,), periods=T, load_profile=PROFILE,
                   bus_load_profiles=read_bus_load_profiles(
                       write_long(tmp_path / "loads.csv", rows), (feeder,), T))
    opf = DistFlowOpf(case)
    result = opf.solve()
    assert result.status is OpfStatus.OPTIMAL
    # the dispatch's net loads are the per-bus ones
    multipliers = case.load_multipliers(0)
    others = np.arange(feeder.num_buses) != feeder.slack_bus
    expected = feeder.load_p_mw[:, None] * multipliers
    assert np.max(np.abs(result.feeders[0].net_load_p_mw[others] - expected[others])) < 1e-7
    check = check_with_ac_power_flow(opf, result)
    assert check.converged
    assert check.max_voltage_deviation_pu < 1e-4
    assert check.max_slack_deviation_mw < 1e-4


def test_a_lateral_peaking_late_moves_the_binding_voltage_period() -> None:
    """case33bw with a 0.93 p.u. floor and a costly micro-turbine at the end of the main
    lateral (bus 18): it runs only when the voltage there would fall below the floor, which
    the feeder's shape puts in period 0 and a late-peaking lateral in period 2."""
    feeder = ieee33().with_voltage_band(0.93, None)
    turbine = MicroTurbine("mt", 18, p_max_mw=2.0, cost_linear_per_mwh=500.0)
    shape = np.array([1.0, 0.5, 0.5])
    case = DsoCase(feeders=(feeder,), periods=3, load_profile=shape, micro_turbines=(turbine,))
    lateral = tuple(BusLoadProfile(bus, np.array([0.2, 0.2, 1.4]), "case33bw")
                    for bus in range(6, 19))

    def binding(result_case: DsoCase) -> list[int]:
        result = DistFlowOpf(result_case).solve()
        assert result.status is OpfStatus.OPTIMAL
        low = result.feeders[0].voltage_pu.min(axis=0)
        at_floor = [t for t in range(3) if low[t] < 0.93 + 1e-6]
        running = [t for t in range(3) if result.micro_turbine_p_mw["mt"][t] > 1e-4]
        assert at_floor == running
        return at_floor

    assert binding(case) == [0]
    assert binding(replace(case, bus_load_profiles=lateral)) == [2]


def test_set_load_profile_puts_every_bus_on_the_new_profile() -> None:
    feeder = ieee33()
    own = (BusLoadProfile(18, np.array([2.0, 0.0, 3.0, 2.0])),)
    opf = DistFlowOpf(DsoCase(feeders=(feeder,), periods=T, load_profile=PROFILE,
                              bus_load_profiles=own))
    k = feeder.bus_index(18)
    loads = opf.solve().feeders[0].net_load_p_mw
    assert loads[k] == pytest.approx(feeder.load_p_mw[k] * own[0].multipliers, abs=1e-8)
    assert loads[k - 1] == pytest.approx(feeder.load_p_mw[k - 1] * PROFILE, abs=1e-8)
    opf.set_load_profile(np.full(T, 0.5))
    assert opf.case.bus_load_profiles == ()
    loads = opf.solve().feeders[0].net_load_p_mw
    assert np.allclose(loads[1:], 0.5 * feeder.load_p_mw[1:, None], atol=1e-8)


def test_feederwise_and_lindistflow_follow_the_per_bus_shape() -> None:
    feeder = ieee33()
    north = replace(feeder, name="north")
    own = (BusLoadProfile(18, np.array([0.5, 0.0, 2.0, 1.0]), "north"),)
    case = DsoCase(feeders=(feeder, north), periods=T, load_profile=PROFILE,
                   bus_load_profiles=own)
    result = FeederwiseOpf(case).solve()
    k = feeder.bus_index(18)
    south_load, north_load = (d.net_load_p_mw[k] for d in result.feeders)
    assert south_load == pytest.approx(feeder.load_p_mw[k] * PROFILE, abs=1e-8)
    assert north_load == pytest.approx(feeder.load_p_mw[k] * np.array([0.5, 0.0, 2.0, 1.0]),
                                       abs=1e-8)
    linear = DistFlowOpf(case, formulation="lindistflow").solve()
    assert linear.feeders[1].net_load_p_mw[k] == pytest.approx(north_load, abs=1e-8)


def test_the_elastic_re_solve_uses_the_per_bus_shape() -> None:
    """An infeasible OPF because one bus's own shape is too high in period 1: the elastic
    re-solve names period 1 (the global shape alone is feasible)."""
    feeder = ieee33().with_voltage_band(0.9, None)
    own = (BusLoadProfile(18, np.array([1.0, 40.0, 1.0, 1.0])),)
    opf = DistFlowOpf(DsoCase(feeders=(feeder,), periods=T, load_profile=PROFILE,
                              bus_load_profiles=own))
    result = opf.solve()
    assert result.status is OpfStatus.INFEASIBLE
    assert result.infeasibility is not None
    periods = {t for v in result.infeasibility.violations for t in v.periods}
    assert periods == {1}, result.message
    assert "bus 18" in result.message


# ------------------------------------------------------------------ validation

CASES = [
    ([("nowhere", 18, 0, 1.0)], r"loads\.csv:2: feeder 'nowhere' is not a feeder of this DSO"),
    ([("case33bw", 99, 0, 1.0)], r"loads\.csv:2: feeder case33bw has no bus 99"),
    ([("case33bw", 1, 0, 1.0)], r"loads\.csv:2: bus 1 of feeder case33bw is the slack bus"),
    ([("case33bw", 18, t, 1.0) for t in range(T)] + [("case33bw", 18, 4, 1.0)],
     r"loads\.csv:6: bus 18 of feeder case33bw: period 4 is outside 0\.\.3"),
    ([("case33bw", 18, 0, -0.5)],
     r"loads\.csv:2: bus 18 of feeder case33bw: multiplier -0\.5 is negative"),
    ([("case33bw", 18, 0, "inf")],
     r"loads\.csv:2: bus 18 of feeder case33bw: multiplier inf is not a finite number"),
    ([("case33bw", 18, 0, "")],
     r"loads\.csv:2: bus 18 of feeder case33bw: multiplier \(empty\) is not a finite number"),
    ([("case33bw", 18, t, 1.0) for t in range(T)] + [("case33bw", 18, 2, 1.5)],
     r"loads\.csv:6: bus 18 of feeder case33bw, period 2 is given twice \(first at line 4\)"),
    ([("case33bw", 18, t, 1.0) for t in (0, 1, 3)],
     r"loads\.csv: bus 18 of feeder case33bw has no row for period 2"),
    ([("case33bw", 18.5, 0, 1.0)], r"loads\.csv:2: bus 18\.5 is not an integer"),
]


@pytest.mark.parametrize(("rows", "message"), CASES)
def test_each_invalid_row_is_named(tmp_path: Path, rows: list[tuple[object, ...]],
                                   message: str) -> None:
    path = write_long(tmp_path / "loads.csv", rows)
    with pytest.raises(InvalidInputError, match=message):
        read_bus_load_profiles(path, (ieee33(),), T)


def test_a_bus_without_load_is_named(tmp_path: Path) -> None:
    feeder = ieee33()
    p, q = feeder.load_p_mw.copy(), feeder.load_q_mvar.copy()
    k = feeder.bus_index(7)
    p[k] = q[k] = 0.0
    path = write_long(tmp_path / "loads.csv", [("case33bw", 7, t, 1.0) for t in range(T)])
    with pytest.raises(InvalidInputError,
                       match=r"loads\.csv:2: bus 7 of feeder case33bw has no load to scale"):
        read_bus_load_profiles(path, (feeder.with_loads(p, q),), T)


def test_several_feeders_need_the_feeder_column(tmp_path: Path) -> None:
    feeders = (ieee33(), replace(ieee33(), name="north"))
    path = write_long(tmp_path / "loads.csv", [(18, t, 1.0) for t in range(T)], feeder=False)
    with pytest.raises(InvalidInputError, match=r"loads\.csv: the DSO has 2 feeders "
                                                r"\(case33bw, north\); add a feeder column"):
        read_bus_load_profiles(path, feeders, T)
    path = write_long(tmp_path / "both.csv", [(name, 18, t, 2.0 if name == "north" else 1.0)
                                              for name in ("case33bw", "north")
                                              for t in range(T)])
    profiles = read_bus_load_profiles(path, feeders, T)
    assert [(p.feeder, p.bus, p.multipliers.tolist()) for p in profiles] == [
        ("case33bw", 18, [1.0] * T), ("north", 18, [2.0] * T)]


def test_the_wide_layout_and_parquet(tmp_path: Path) -> None:
    feeder = ieee33()
    wide = tmp_path / "wide.csv"
    wide.write_text("bus,p0,p1,p2,p3\n18,1,2,3,4\n25,0.5,0.5,0.5,0.5\n")
    profiles = read_bus_load_profiles(wide, (feeder,), T)
    assert [(p.bus, p.multipliers.tolist()) for p in profiles] == [
        (18, [1.0, 2.0, 3.0, 4.0]), (25, [0.5] * 4)]
    wide.write_text("bus,p0,p1,p2,p3\n18,1,2,3,4\n18,1,1,1,1\n")
    with pytest.raises(InvalidInputError, match=r"wide\.csv:3: bus 18 of feeder case33bw is "
                                                r"given twice \(first at line 2\)"):
        read_bus_load_profiles(wide, (feeder,), T)
    wide.write_text("bus,p0,p1,p3\n18,1,2,4\n")
    with pytest.raises(InvalidInputError, match=r"wide\.csv: missing column\(s\) p2"):
        read_bus_load_profiles(wide, (feeder,), T)
    wide.write_text("bus,p0,p1,p2,p3,p4\n18,1,2,3,4,5\n")
    with pytest.raises(InvalidInputError, match=r"column p4 is outside the periods 0\.\.3"):
        read_bus_load_profiles(wide, (feeder,), T)
    wide.write_text("bus,p0,p1,p2,p3\n18,1,2,-3,4\n")
    with pytest.raises(InvalidInputError, match=r"wide\.csv:2: bus 18 of feeder case33bw: p2 -3 "
                                                r"is negative"):
        read_bus_load_profiles(wide, (feeder,), T)
    parquet = tmp_path / "loads.parquet"
    pd.DataFrame({"feeder": ["case33bw"] * 3, "bus": [18, 18, 18], "period": [0, 1, 2],
                  "multiplier": [1.0, 1.0, -1.0]}).to_parquet(parquet)
    with pytest.raises(InvalidInputError, match=r"loads\.parquet: row 2: bus 18 of feeder "
                                                r"case33bw: multiplier -1 is negative"):
        read_bus_load_profiles(parquet, (feeder,), 3)


def test_the_case_checks_profiles_built_in_code() -> None:
    feeder = ieee33()
    with pytest.raises(InvalidInputError, match="bus_load_profile of bus 18: the bus is given "
                                                "twice"):
        DistFlowOpf(DsoCase(feeders=(feeder,), periods=2, load_profile=np.ones(2),
                            bus_load_profiles=(BusLoadProfile(18, np.ones(2)),
                                               BusLoadProfile(18, np.ones(2)))))
    with pytest.raises(InvalidInputError, match="bus_load_profile of bus 18: needs 2 values"):
        DistFlowOpf(DsoCase(feeders=(feeder,), periods=2, load_profile=np.ones(2),
                            bus_load_profiles=(BusLoadProfile(18, np.ones(3)),)))


def test_ptn_opf_takes_the_table(tmp_path: Path) -> None:
    """``ptn opf --bus-load-profiles``: the table's shape in buses.csv; a bad table is one
    error line naming the file, line and bus (exit code 2)."""
    from typer.testing import CliRunner

    from ptn.cli.app import app

    table = tmp_path / "loads.csv"
    table.write_text("bus,p0,p1\n18,0.5,3.0\n")
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["opf", "--feeder", "case33bw", "--periods", "2",
                                 "--bus-load-profiles", str(table), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    buses = pd.read_csv(out / "buses.csv")
    at_18 = buses[buses["bus"] == 18].sort_values("period")["net_load_mw"].to_numpy()
    base = ieee33().load_p_mw[ieee33().bus_index(18)]
    assert at_18 == pytest.approx(base * np.array([0.5, 3.0]), abs=1e-6)
    table.write_text("bus,p0,p1\n18,0.5,3.0\n34,1,1\n")
    result = runner.invoke(app, ["opf", "--feeder", "case33bw", "--periods", "2",
                                 "--bus-load-profiles", str(table)])
    assert result.exit_code == 2
    assert "loads.csv:3: feeder case33bw has no bus 34" in result.output
