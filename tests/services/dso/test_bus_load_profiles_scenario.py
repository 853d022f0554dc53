"""``[dso] bus_load_profiles``: a scenario's per-bus load shapes, read relative to the scenario
file, reach the DSO's OPF; a bad table is named with the key, the file, the line and the bus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder_blocks import FeederwiseOpf
from ptn.engines.power.profiles import daily_profile
from ptn.engines.power.result import OpfStatus
from ptn.scenario.document import builtin_scenario_text, load_scenario
from ptn.services.dso.config import dso_config_from_part

DEFAULT = builtin_scenario_text("nguyen-dupuis-ieee33")
PERIODS = 24
#: bus 25 of case33bw carries no device in the default scenario, so its net load is its load
BUS = 25


def scenario(folder: Path, table: str, name: str = "loads.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(table)
    path = folder / "city.toml"
    path.write_text(DEFAULT.replace('feeder = "case33bw"',
                                    f'feeder = "case33bw"\nbus_load_profiles = "{name}"', 1))
    return path


def test_the_scenario_s_per_bus_shape_reaches_the_opf(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    shape = np.round(np.linspace(0.2, 1.6, PERIODS), 6)
    wide = "bus," + ",".join(f"p{t}" for t in range(PERIODS)) + "\n" \
        + f"{BUS}," + ",".join(repr(float(value)) for value in shape) + "\n"
    path = scenario(tmp_path / "city", wide)
    monkeypatch.chdir(tmp_path)  # the table is found beside the scenario, not in the cwd
    config = dso_config_from_part(load_scenario(path).part("dso"))
    (profile,) = config.case.bus_load_profiles
    assert (profile.feeder, profile.bus) == ("case33bw", BUS)
    np.testing.assert_array_equal(profile.multipliers, shape)
    result = FeederwiseOpf(config.case).solve()
    assert result.status in (OpfStatus.OPTIMAL, OpfStatus.INEXACT)
    feeder = config.case.feeders[0]
    k, neighbour = feeder.bus_index(BUS), feeder.bus_index(26)
    loads = result.feeders[0].net_load_p_mw
    assert loads[k] == pytest.approx(feeder.load_p_mw[k] * shape, abs=1e-7)
    # the other buses keep the scenario's load_profile
    global_shape = daily_profile("rts-winter-weekday", PERIODS)
    assert loads[neighbour] == pytest.approx(feeder.load_p_mw[neighbour] * global_shape,
                                             abs=1e-7)


def test_a_bad_table_is_named_with_the_key_the_file_the_line_and_the_bus(tmp_path: Path
                                                                          ) -> None:
    rows = "".join(f"case33bw,{BUS},{t},1.0\n" for t in range(PERIODS))
    path = scenario(tmp_path, "feeder,bus,period,multiplier\n" + rows + "case33bw,99,0,1.0\n")
    with pytest.raises(InvalidInputError, match=r"city\.toml: dso\.bus_load_profiles: .*"
                                                r"loads\.csv:26: feeder case33bw has no bus 99"):
        dso_config_from_part(load_scenario(path).part("dso"))
    path = scenario(tmp_path, "feeder,bus,period,multiplier\n" + rows.replace(",5,1.0", ",5,-2"))
    with pytest.raises(InvalidInputError, match=rf"loads\.csv:7: bus {BUS} of feeder case33bw: "
                                                r"multiplier -2 is negative"):
        dso_config_from_part(load_scenario(path).part("dso"))
    path.write_text(DEFAULT.replace('feeder = "case33bw"',
                                    'feeder = "case33bw"\nbus_load_profiles = "absent.csv"', 1))
    with pytest.raises(InvalidInputError, match=r"dso\.bus_load_profiles: .*absent\.csv: no such "
                                                r"bus load profile table"):
        dso_config_from_part(load_scenario(path).part("dso"))


def test_a_resampled_day_averages_the_tables_periods(tmp_path: Path) -> None:
    """``--periods 4``: a 24-period table's multipliers are averaged over each 6 hours (as the
    scenario's load_profile is); ``--periods 48``: each hour's repeated."""
    shape = np.round(np.linspace(0.2, 1.6, PERIODS), 6)
    rows = "".join(f"{BUS},{t},{float(shape[t])!r}\n" for t in range(PERIODS))
    path = scenario(tmp_path, "bus,period,multiplier\n" + rows)
    config = dso_config_from_part(load_scenario(path, periods=4).part("dso"))
    (profile,) = config.case.bus_load_profiles
    np.testing.assert_allclose(profile.multipliers,
                               [np.mean(shape[6 * k:6 * (k + 1)]) for k in range(4)], rtol=1e-12)
    config = dso_config_from_part(load_scenario(path, periods=48).part("dso"))
    np.testing.assert_array_equal(config.case.bus_load_profiles[0].multipliers,
                                  np.repeat(shape, 2))
