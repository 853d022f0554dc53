"""The DER case file (TOML) and the charging-load file (CSV): values, defaults, and errors that
name the file with the key path or line."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.case_file import (
    DEVICE_TABLES,
    device_keys,
    read_charging_csv,
    read_dso_case_toml,
)
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.profiles import RTS_WINTER_WEEKDAY, SOLAR, seed002_time_of_use
from tests.support import REPOSITORY

EXAMPLE = REPOSITORY / "scenarios" / "der" / "seed002-ieee33.toml"


@pytest.fixture(scope="module")
def ieee33() -> Feeder:
    return load_feeder("case33bw")


def write(tmp_path: Path, text: str, name: str = "der.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, feeders: tuple[Feeder, ...], periods: int = 24) -> str:
    with pytest.raises(InvalidInputError) as caught:
        read_dso_case_toml(path, feeders, periods)
    return str(caught.value)


def test_example_file_holds_seed_002_set_up(ieee33: Feeder) -> None:
    case = read_dso_case_toml(EXAMPLE, (ieee33,), 24)
    assert case.periods == 24 and case.period_hours == 1.0
    np.testing.assert_array_equal(case.load_profile, RTS_WINTER_WEEKDAY)
    np.testing.assert_array_equal(case.upstream_price_per_mwh, seed002_time_of_use(24))
    (mt,) = case.micro_turbines
    assert (mt.p_max_mw, mt.ramp_mw_per_h) == (0.5, 0.2)
    assert (mt.cost_quadratic_per_mw2h, mt.cost_linear_per_mwh) == (0.024, 85.0)
    (storage,) = case.storage
    assert (storage.bus, storage.soc_min, storage.soc_max) == (18, 0.2, 0.8)
    assert {(u.kind, u.bus) for u in case.renewables} == {("pv", 28), ("wind", 14)}
    pv = next(u for u in case.renewables if u.kind == "pv")
    np.testing.assert_array_equal(pv.profile, SOLAR)
    assert pv.apparent_limit_mva == 1.1
    assert sorted(d.bus for d in case.demand_response) == [7, 8, 24, 25]
    assert all(d.incentive_per_mwh == 105.0 for d in case.demand_response)
    assert [c.bus for c in case.charging_points] == [16, 20, 32]
    assert all(c.feeder is None for c in case.charging_points)


def test_defaults_follow_the_horizon(tmp_path: Path, ieee33: Feeder) -> None:
    path = write(tmp_path, '[[pv]]\nname = "pv"\nbus = 5\nrated_mw = 1\n')
    snapshot = read_dso_case_toml(path, (ieee33,), 1)
    assert snapshot.period_hours == 1.0 and snapshot.load_profile.tolist() == [1.0]
    assert snapshot.upstream_price_per_mwh is None  # the feeder's shipped cost
    assert snapshot.renewables[0].profile[0] == pytest.approx(SOLAR.mean())
    quarters = read_dso_case_toml(path, (ieee33,), 4)
    assert quarters.period_hours == 6.0
    np.testing.assert_allclose(quarters.load_profile, RTS_WINTER_WEEKDAY.reshape(4, 6).mean(1))


def test_explicit_series_and_prices(tmp_path: Path, ieee33: Feeder) -> None:
    path = write(tmp_path, """
[horizon]
period_hours = 0.5
load_profile = [1, 0.5, 0.25]
[upstream]
prices_per_mwh = [10, -5, 20.5]
loss_price_per_mwh = 3
[[wind]]
name = "w"
bus = 9
rated_mw = 2
profile = [0.1, 0.2, 0.3]
curtailable = false
reactive_support = false
""")
    case = read_dso_case_toml(path, (ieee33,), 3)
    assert case.period_hours == 0.5 and case.loss_price_per_mwh == 3.0
    assert case.load_profile.tolist() == [1.0, 0.5, 0.25]
    assert case.upstream_price_per_mwh is not None
    assert case.upstream_price_per_mwh.tolist() == [10.0, -5.0, 20.5]
    (wind,) = case.renewables
    assert wind.kind == "wind" and not wind.curtailable and not wind.reactive_support
    np.testing.assert_allclose(wind.available_mw(), [0.2, 0.4, 0.6])


def test_keys_mirror_the_dataclasses() -> None:
    for table, (cls, _) in DEVICE_TABLES.items():
        allowed, required = device_keys(table)
        fields = {f.name for f in dataclasses.fields(cls)} - {"kind"}
        assert set(allowed) == fields
        assert {"name", "bus"} <= set(required) <= fields
    assert set(device_keys("storage")[1]) == {"name", "bus", "energy_mwh", "charge_max_mw",
                                               "discharge_max_mw"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[micro_turbine]]\nname = "a"\nbus = 3\np_max_mw = 1\n'
         '[[micro_turbine]]\nname = "b"\nbus = 4\np_max_mw = "x"\n',
         'der.toml: micro_turbine[2].p_max_mw: expected a number, got "x"'),
        ('[[storage]]\nname = "s"\nbus = 3\nenergy_mwh = 1\ncharge_max_mw = 1\n'
         'discharge_max_mw = 1\nsoc_maximum = 0.9\n',
         "der.toml: storage[1].soc_maximum: unknown key (allowed: name, bus, energy_mwh, "
         "charge_max_mw, discharge_max_mw, charge_efficiency, discharge_efficiency, soc_min, "
         "soc_max, soc_initial, feeder)"),
        ("[tariff]\nprice = 3\n",
         "der.toml: tariff: unknown key (allowed: horizon, upstream, micro_turbine, storage, "
         "pv, wind, demand_response, charging_point)"),
        ("[horizon]\nperiods = 24\n", "der.toml: horizon.periods: unknown key"),
        ('[[charging_point]]\nname = "cs"\nbus = 99\n',
         "der.toml: charging_point[1].bus: feeder case33bw has no bus 99"),
        ('[[charging_point]]\nname = "cs"\nbus = 1\n',
         "der.toml: charging_point[1].bus: bus 1 is the slack bus of feeder case33bw"),
        ('[[charging_point]]\nname = "cs"\nbus = 2.0\n',
         "der.toml: charging_point[1].bus: expected an integer bus label, got 2.0"),
        ('[[charging_point]]\nname = "cs"\nbus = 2\nfeeder = "other"\n',
         "der.toml: charging_point[1].feeder: unknown feeder 'other' (feeders: case33bw)"),
        ('[[charging_point]]\nbus = 2\n', "der.toml: charging_point[1]: missing required key "
                                          "'name'"),
        ('[[charging_point]]\nname = ""\nbus = 2\n', "der.toml: charging_point[1].name: must not "
                                                     "be empty"),
        ('[[charging_point]]\nname = "cs"\nbus = 2\nmax_mw = nan\n',
         "der.toml: charging_point[1].max_mw: expected a finite number, got nan"),
        ('[[micro_turbine]]\nname = "m"\nbus = 2\np_max_mw = inf\n',
         "der.toml: micro_turbine[1].p_max_mw: expected a finite number, got inf"),
        ('[[pv]]\nname = "p"\nbus = 2\nrated_mw = 1\ncurtailable = "yes"\n',
         'der.toml: pv[1].curtailable: expected true or false, got "yes"'),
        ('[[pv]]\nname = "p"\nbus = 2\nrated_mw = 1\nprofile = "sunny"\n',
         "der.toml: pv[1].profile: unknown profile 'sunny'; built-ins: flat, rts-winter-weekday,"
         " solar, wind"),
        ('[[pv]]\nname = "p"\nbus = 2\nrated_mw = 1\nprofile = [1, 2, 3]\n',
         "der.toml: pv[1].profile: a profile needs 24 values (one per period) or 24 hourly "
         "values, got 3"),
        ('[[pv]]\nname = "p"\nbus = 2\nrated_mw = 1\nprofile = [1, "2"]\n',
         'der.toml: pv[1].profile[1]: expected a finite number, got "2"'),
        ('[[pv]]\nname = "p"\nbus = 2\nrated_mw = 1\nkind = "wind"\n',
         "der.toml: pv[1].kind: unknown key"),
        ("[horizon]\nload_profile = [-1.0]\n",
         "der.toml: horizon.load_profile[0]: must be >= 0, got -1.0"),
        ("[horizon]\nperiod_hours = 0\n",
         "der.toml: horizon.period_hours: must be positive, got 0.0"),
        ('[upstream]\ntariff = "spot"\n',
         "der.toml: upstream.tariff: unknown tariff 'spot' (allowed: seed002-tou, shipped; "
         "or give prices_per_mwh)"),
        ('[upstream]\ntariff = "shipped"\nprices_per_mwh = [1]\n',
         "der.toml: upstream: give either 'tariff' or 'prices_per_mwh', not both"),
        ('[upstream]\nprices_per_mwh = "flat"\n',
         'der.toml: upstream.prices_per_mwh: expected a list of prices (24 hourly or one per '
         'period), got "flat"'),
        ("[upstream]\nprices_per_mwh = [1, 2]\n",
         "der.toml: upstream.prices_per_mwh: a profile needs 24 values (one per period) or 24 "
         "hourly values, got 2"),
        ("horizon = 3\n", "der.toml: horizon: expected a table [horizon], got 3"),
        ('[micro_turbine]\nname = "m"\n',
         "der.toml: micro_turbine: expected an array of tables: write [[micro_turbine]], "
         "not [micro_turbine]"),
        ('[[demand_response]]\nname = "d"\nbus = 7\nmax_shift_fraction = 1.5\n',
         "der.toml: demand_response 'd': max_shift_fraction must be in [0, 1]"),
        ('[[storage]]\nname = "s"\nbus = 3\nenergy_mwh = 1\ncharge_max_mw = 1\n'
         'discharge_max_mw = 1\nsoc_initial = 0.9\n',
         "der.toml: storage 's': need 0 <= soc_min <= soc_initial <= soc_max <= 1"),
        ('[[charging_point]]\nname = "x"\nbus = 2\n[[demand_response]]\nname = "x"\nbus = 3\n',
         "der.toml: charging_point 'x': the name is used twice"),
        ("a = 1\nb = [1,\n  2,, 3]\n", "der.toml:3:5: TOML syntax error: Invalid value"),
        ('[upstream]\ntariff = "seed002-tou\n', "der.toml:2:"),
        ("x = [1, 2\n", "der.toml:1: TOML syntax error: Unclosed array (at end of file)"),
    ],
)
def test_errors_name_the_file_and_key(
    tmp_path: Path, ieee33: Feeder, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    error = error_of(path, (ieee33,))
    assert error.startswith(f"{path}") and "\n" not in error
    assert message.replace("der.toml", str(path)) in error


def test_missing_file_and_non_utf8(tmp_path: Path, ieee33: Feeder) -> None:
    assert "cannot read DER file" in error_of(tmp_path / "absent.toml", (ieee33,))
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b'# ok\n[[pv]]\nname = "caf\xe9"\n')
    assert error_of(bad, (ieee33,)) == f"{bad}:3: not UTF-8 text"


def test_several_feeders_need_a_feeder_key(tmp_path: Path, ieee33: Feeder) -> None:
    other = dataclasses.replace(ieee33, name="north")
    path = write(tmp_path, '[[charging_point]]\nname = "cs"\nbus = 5\n')
    assert "charging_point[1]: the DSO has 2 feeders; name one with 'feeder'" in error_of(
        path, (ieee33, other))
    path = write(tmp_path, '[[charging_point]]\nname = "cs"\nbus = 5\nfeeder = "north"\n')
    case = read_dso_case_toml(path, (ieee33, other), 24)
    assert case.charging_points[0].feeder == "north"


def test_demand_response_needs_load_at_its_bus(tmp_path: Path, ieee33: Feeder) -> None:
    load = ieee33.load_p_mw.copy()
    load[ieee33.bus_index(7)] = 0.0
    unloaded = ieee33.with_loads(load, ieee33.load_q_mvar)
    path = write(tmp_path, '[[demand_response]]\nname = "d"\nbus = 7\n')
    assert error_of(path, (unloaded,)).endswith(
        "demand_response[1].bus: bus 7 of feeder case33bw has no load to shift")


def test_tariff_needs_a_daily_horizon(tmp_path: Path, ieee33: Feeder) -> None:
    path = write(tmp_path, '[horizon]\nload_profile = [1, 1, 1, 1, 1]\n'
                           '[upstream]\ntariff = "seed002-tou"\n')
    assert "upstream.tariff: periods must divide 24" in error_of(path, (ieee33,), periods=5)


# ---------------------------------------------------------------------------- charging CSV
POINTS = ("cs16", "cs20")


def test_charging_csv_reads_any_column_and_row_order(tmp_path: Path) -> None:
    path = write(tmp_path, "period,cs20,cs16\n\n2,0.3,0\n0, 1.5 ,0.25\n1,0,1e-1\n", "loads.csv")
    loads = read_charging_csv(path, POINTS, 3)
    np.testing.assert_array_equal(loads, [[0.25, 0.1, 0.0], [1.5, 0.0, 0.3]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("period,cs16,cs20\n0,1,2\n1,abc,0\n",
         "loads.csv:3: column 'cs16': expected a load in MW, got 'abc'"),
        ("period,cs16,cs20\n0,1,-2\n1,0,0\n",
         "loads.csv:2: column 'cs20': the load must be finite and >= 0, got -2"),
        ("period,cs16,cs20\n0,1,nan\n1,0,0\n",
         "loads.csv:2: column 'cs20': the load must be finite and >= 0, got nan"),
        ("period,cs16,cs20\n0,1\n", "loads.csv:2: expected 3 fields, got 2"),
        ("period,cs16,cs20\nfirst,1,1\n",
         "loads.csv:2: column 'period': expected an integer, got 'first'"),
        ("period,cs16,cs20\n2,1,1\n", "loads.csv:2: column 'period': 2 is outside 0 to 1"),
        ("period,cs16,cs20\n0,1,1\n0,1,1\n",
         "loads.csv:3: period 0 already given on line 2"),
        ("period,cs16,cs20\n0,1,1\n", "loads.csv: no row for period 1 (need periods 0 to 1)"),
        ("period,cs16,cs99\n", "loads.csv:1: column 'cs99' is not a charging point "
                               "(points: cs16, cs20)"),
        ("period,cs16\n", "loads.csv:1: no column for charging point 'cs20'"),
        ("period,cs16,cs16,cs20\n", "loads.csv:1: column 'cs16' appears twice"),
        ("point,period,load_mw\n", "loads.csv:1: the first column must be 'period', got 'point'"),
        ("\n\n", "loads.csv: empty file; expected a header period,cs16,cs20"),
        ("period,cs16,cs20\n0,1,3\n1,0,0\n",
         "loads.csv:2: column 'cs20': 3 MW exceeds the charging point's max_mw 2.5"),
    ],
)
def test_charging_csv_errors_name_file_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text, "loads.csv")
    with pytest.raises(InvalidInputError) as caught:
        read_charging_csv(path, POINTS, 2, max_mw=[np.inf, 2.5])
    assert str(caught.value) == message.replace("loads.csv", str(path))
    assert re.match(re.escape(str(path)), str(caught.value))
