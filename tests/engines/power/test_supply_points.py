"""Nets with several supply points, islands, loops, transformer taps and missing cost data.

Expected values come from the pandapower data itself (tap positions, bus counts, the loop's
lines as listed in ``lv_schutterwald``) or from pandapower's power flow.
"""

from __future__ import annotations

import copy
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeder, load_feeders
from ptn.engines.power.matpower_case import feeder_from_matpower
from ptn.engines.power.pandapower_catalogue import pandapower_network
from ptn.engines.power.pandapower_io import (
    feeder_from_pandapower,
    feeders_from_pandapower,
    pandapower_net,
    run_ac_power_flow,
)

#: the loop of lv_schutterwald's LV network behind trafo 15 (its lines, in pandapower's index)
SCHUTTERWALD_LOOP = {8293, 8294, 8820, 8823, 13417}


def two_supply_net() -> Any:
    """Two 20 kV radial feeders in one net, each with its own ext_grid, plus one empty bus."""
    net = pp.create_empty_network(sn_mva=1.0)
    for k in range(7):
        pp.create_bus(net, vn_kv=20.0, index=k)
    pp.create_ext_grid(net, 0, vm_pu=1.02)
    pp.create_ext_grid(net, 3, vm_pu=1.0)
    for a, b in ((0, 1), (1, 2), (3, 4), (4, 5)):
        pp.create_line_from_parameters(net, a, b, length_km=2.0, r_ohm_per_km=0.3,
                                       x_ohm_per_km=0.35, c_nf_per_km=0.0, max_i_ka=0.3)
    for bus in (1, 2, 4, 5):
        pp.create_load(net, bus, p_mw=0.5 * bus, q_mvar=0.1 * bus)
    return net  # bus 6: no branch, no load


def test_two_supply_points_are_two_feeders_matching_pandapower() -> None:
    net = two_supply_net()
    feeders = feeders_from_pandapower(net, "pair")
    assert [f.name for f in feeders] == ["pair/0", "pair/1"]
    assert [f.bus_ids.tolist() for f in feeders] == [[0, 1, 2], [3, 4, 5]]  # bus 6 dropped
    assert [f.slack_voltage_pu for f in feeders] == [1.02, 1.0]
    assert "ext_grid 1 at bus 3" in feeders[1].source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, tolerance_mva=1e-10, numba=False)
    for feeder in feeders:
        flow = run_ac_power_flow(feeder, feeder.load_p_mw, feeder.load_q_mvar)
        reference = net.res_bus["vm_pu"].loc[feeder.bus_ids].to_numpy()
        np.testing.assert_allclose(flow.vm_pu, reference, atol=1e-9)
    with pytest.raises(InvalidInputError, match=r"2 supply points.*pair/0.*pair/1"):
        feeder_from_pandapower(net, "pair")


def test_an_island_with_load_is_refused_naming_its_buses() -> None:
    net = two_supply_net()
    pp.create_load(net, 6, p_mw=0.2)
    with pytest.raises(InvalidInputError, match=r"bus 6 \(load 0\.2 MW.*islanded.*buses 6"):
        feeders_from_pandapower(net, "island")


def test_connected_supply_points_are_refused_naming_both() -> None:
    net = two_supply_net()
    pp.create_line_from_parameters(net, 2, 5, length_km=1.0, r_ohm_per_km=0.3,
                                   x_ohm_per_km=0.35, c_nf_per_km=0.0, max_i_ka=0.3)
    with pytest.raises(InvalidInputError,
                       match=r"ext_grid 0 \(bus 0\), ext_grid 1 \(bus 3\) are connected"):
        feeders_from_pandapower(net, "tied")


def test_json_file_with_two_supply_points_loads_as_two_feeders(tmp_path: Path) -> None:
    path = tmp_path / "pair.json"
    pp.to_json(two_supply_net(), str(path))
    feeders = load_feeders(str(path))
    assert [f.name for f in feeders] == ["pair/0", "pair/1"]
    with pytest.raises(InvalidInputError, match="2 supply points"):
        load_feeder(str(path))


def test_mv_oberrhein_is_two_feeders_with_their_taps_folded() -> None:
    net = pn.mv_oberrhein()
    feeders = load_feeders("mv_oberrhein")
    assert [f.name for f in feeders] == ["mv_oberrhein/0", "mv_oberrhein/1"]
    assert sum(f.num_buses for f in feeders) == len(net.bus)
    for feeder in feeders:
        slack_label = feeder.bus_ids[feeder.slack_bus]
        trafo = net.trafo[net.trafo["hv_bus"] == slack_label].iloc[0]
        # HV-side tap: the voltage behind it is vm_pu / (1 + steps·step%)
        ratio = 1 + (trafo["tap_pos"] - trafo["tap_neutral"]) * trafo["tap_step_percent"] / 100
        vm = net.ext_grid.loc[net.ext_grid["bus"] == slack_label, "vm_pu"].iloc[0]
        assert feeder.slack_voltage_pu == pytest.approx(vm / ratio, rel=1e-12)
        assert any(f"trafo {trafo.name}" in note for note in feeder.notes)
    with pytest.raises(InvalidInputError,
                       match=r"mv_oberrhein/0 \(ext_grid 0 at bus 58\); mv_oberrhein/1 "
                             r"\(ext_grid 1 at bus 318\)"):
        load_feeder("mv_oberrhein")


def test_a_tap_at_the_supply_transformer_is_exact_against_pandapower() -> None:
    net = pn.create_kerber_dorfnetz()
    net.trafo.loc[0, ["tap_pos", "tap_neutral", "tap_step_percent"]] = [-2, 0, 2.5]
    net.trafo.loc[0, ["pfe_kw", "i0_percent"]] = 0.0
    net.line["c_nf_per_km"] = 0.0
    feeder = feeder_from_pandapower(net, "tapped")
    assert feeder.slack_voltage_pu == pytest.approx(1.0 / 0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, tolerance_mva=1e-10, numba=False)
    flow = run_ac_power_flow(feeder, feeder.load_p_mw, feeder.load_q_mvar)
    others = np.arange(feeder.num_buses) != feeder.slack_bus
    reference = net.res_bus["vm_pu"].loc[feeder.bus_ids].to_numpy()
    np.testing.assert_allclose(flow.vm_pu[others], reference[others], atol=1e-9)


def test_an_off_nominal_transformer_inside_a_feeder_is_refused_naming_it() -> None:
    net = pn.create_cigre_network_lv()
    net.trafo.loc[1, ["tap_side", "tap_pos", "tap_neutral", "tap_step_percent"]] = \
        ["hv", 1, 0, 2.5]
    with pytest.raises(InvalidInputError, match=r"trafo 1 \(HV bus 20\) has the off-nominal "
                                                r"ratio 1\.025"):
        feeder_from_pandapower(net, "cigre_lv")
    net = pn.create_cigre_network_lv()
    net.trafo.loc[2, "vn_lv_kv"] = 0.42  # rated 0.42 kV on a 0.4 kV bus
    with pytest.raises(InvalidInputError, match=r"trafo 2 .*off-nominal ratio 0\.952381"):
        feeder_from_pandapower(net, "cigre_lv")


def test_lv_schutterwald_has_a_loop_named_and_loads_once_it_is_opened() -> None:
    net = pandapower_network("pandapower:lv_schutterwald")
    with pytest.raises(InvalidInputError, match="not radial") as error:
        feeders_from_pandapower(net, "lv_schutterwald")
    named = {int(k) for k in re.findall(r"line (\d+) \(", str(error.value))}
    assert named == SCHUTTERWALD_LOOP
    net.line.loc[13417, "in_service"] = False
    feeders = feeders_from_pandapower(net, "lv_schutterwald")
    assert len(feeders) == len(net.ext_grid) == 14
    assert sum(f.num_buses for f in feeders) == len(net.bus)


def test_storage_and_unknown_pandapower_names_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"storage 0 \(bus 5\) is in service"):
        feeders_from_pandapower(pn.create_cigre_network_mv(with_der="all"), "cigre_mv_all")
    with pytest.raises(InvalidInputError, match="no net builder 'from_json'"):
        load_feeders("pandapower:from_json")
    with pytest.raises(InvalidInputError, match="no net builder 'nothing'"):
        load_feeders("pandapower:nothing")
    with pytest.raises(InvalidInputError, match=r"cigre_lv, cigre_mv.*pandapower:<function>"):
        load_feeders("cigre_hv")
    ring = load_feeders("pandapower:simple_mv_open_ring_net")
    assert [f.name for f in ring] == ["simple_mv_open_ring_net"]


def test_cost_data_is_marked_where_the_case_has_it(tmp_path: Path) -> None:
    assert load_feeder("case33bw").upstream_cost.has_cost_data  # pandapower ships a poly_cost
    assert load_feeder("case69").upstream_cost.has_cost_data  # MATPOWER ships a gencost
    assert not load_feeder("kerber_dorfnetz").upstream_cost.has_cost_data
    case = tmp_path / "nocost.m"
    case.write_text(
        "function mpc = nocost\nmpc.version = '2';\nmpc.baseMVA = 10;\n"
        "mpc.bus = [1 3 0 0 0 0 1 1 0 12.66 1 1.1 0.9; 2 1 1 0.5 0 0 1 1 0 12.66 1 1.1 0.9];\n"
        "mpc.gen = [1 0 0 10 -10 1 100 1 10 0];\n"
        "mpc.branch = [1 2 0.01 0.02 0 0 0 0 0 0 1 -360 360];\n"
    )
    assert not feeder_from_matpower(case).upstream_cost.has_cost_data
    # a round trip through a pandapower file keeps the absence of cost data
    feeder = load_feeder("kerber_dorfnetz")
    path = tmp_path / "dorf.json"
    pp.to_json(pandapower_net(feeder, feeder.load_p_mw, feeder.load_q_mvar), str(path))
    assert not load_feeder(str(path)).upstream_cost.has_cost_data
    # catalogue copies are independent
    copy.deepcopy(feeder).load_p_mw[:] = 0
    feeder.load_p_mw[:] = 0
    assert load_feeder("kerber_dorfnetz").total_load_mw > 0
