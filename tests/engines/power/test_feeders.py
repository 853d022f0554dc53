"""Feeder loaders: MATPOWER parser, pandapower conversion, built-in catalogue, AC power flow.

Expected numbers never come from the code under test: totals are the published ones (or sums
over the case file's columns read here with a ten-line reader); power-flow figures are the
published ones or pandapower's own ``runpp`` on nets built here directly from the case files
(ohm and kW as stored, no per-unit conversion) or taken from ``pandapower.networks``.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import (
    IEEE30_GENERATORS,
    IEEE30_LOAD_SCALE,
    IEEE30_OPENED_BRANCHES,
    load_feeder,
    matpower_data_directory,
    shortest_path_tree,
)
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.matpower_case import (
    feeder_from_matpower,
    read_matpower_case,
)
from ptn.engines.power.pandapower_io import (
    AcPowerFlowResult,
    feeder_from_file,
    feeder_from_pandapower,
    pandapower_net,
    run_ac_power_flow,
)

DATA = matpower_data_directory()
_CASE33BW_NET = pn.case33bw()


def case33bw_net() -> pp.pandapowerNet:
    """pandapower's own case33bw (read once: it takes about a second)."""
    return copy.deepcopy(_CASE33BW_NET)
_FEEDERS: dict[str, Feeder] = {}
_FLOWS: dict[str, AcPowerFlowResult] = {}


def feeder(name: str) -> Feeder:
    if name not in _FEEDERS:
        _FEEDERS[name] = load_feeder(name)
    return _FEEDERS[name]


def flow(name: str) -> AcPowerFlowResult:
    if name not in _FLOWS:
        f = feeder(name)
        _FLOWS[name] = run_ac_power_flow(f, f.load_p_mw, f.load_q_mvar)
    return _FLOWS[name]


def case_matrix(text: str, name: str) -> np.ndarray:
    """A numeric block ``mpc.<name> = [ ... ];`` of a case file, read independently."""
    match = re.search(rf"mpc\.{name}\s*=\s*\[(.*?)\];", text, re.DOTALL)
    assert match, name
    rows = []
    for line in match.group(1).splitlines():
        line = line.split("%")[0].strip().rstrip(";")
        if line:
            rows.append([float(value) for value in line.split()])
    return np.asarray(rows)


def independent_flow(
    name: str, *, ohm_kw: bool, kva_power_factor: float | None = None
) -> tuple[float, float, int]:
    """pandapower runpp on a net built here from the case file: (loss MW, Vmin, its bus)."""
    text = (DATA / f"{name}.m").read_text()
    base = re.search(r"mpc\.baseMVA\s*=\s*([\d.]+)", text)
    assert base
    base_mva = float(base.group(1))
    bus, gen, branch = (case_matrix(text, m) for m in ("bus", "gen", "branch"))
    net = pp.create_empty_network(sn_mva=base_mva)
    # ohm cases: one voltage level, impedances as stored. p.u. cases: 1 kV so Z_base = 1/base
    kv = bus[0, 9] if ohm_kw else 1.0
    ohm_per_unit = 1.0 if ohm_kw else 1.0 / base_mva
    for row in bus:
        pp.create_bus(net, vn_kv=kv, index=int(row[0]))
    # line charging BR_B (p.u.) as the line's capacitance: B = BR_B / Z_base siemens
    z_base_ohm = kv**2 / base_mva
    for row in branch[branch[:, 10] != 0]:
        pp.create_line_from_parameters(
            net, int(row[0]), int(row[1]), 1.0, row[2] * ohm_per_unit,
            max(row[3], 1e-12) * ohm_per_unit, row[4] / z_base_ohm / (2 * math.pi * net.f_hz)
            * 1e9, 1e5,
        )
    load_scale = 1e-3 if ohm_kw else 1.0
    for row in bus:
        p, q = row[2] * load_scale, row[3] * load_scale
        if kva_power_factor is not None:
            p, q = p * kva_power_factor, p * math.sin(math.acos(kva_power_factor))
        # bus shunts as constant power at 1 p.u., the Feeder's documented stand-in
        pp.create_load(net, int(row[0]), p_mw=p + row[4], q_mvar=q - row[5])
    slack = int(bus[bus[:, 1] == 3, 0][0])
    pp.create_ext_grid(net, slack, vm_pu=gen[gen[:, 0] == slack, 5][0])
    pp.runpp(
        net, algorithm="nr", init="flat", tolerance_mva=1e-9, calculate_voltage_angles=True,
        numba=False,
    )
    vm = net.res_bus.vm_pu
    return float(net.res_line.pl_mw.sum()), float(vm.min()), int(vm.idxmin())


# --------------------------------------------------------------------------------------------
# total loads


@pytest.mark.parametrize(
    ("name", "p_mw", "q_mvar", "tolerance"),
    [
        # Baran & Wu 1989 (reconfiguration): 3715 kW, 2300 kVAr
        ("case33bw", 3.715, 2.3, 1e-9),
        # Baran & Wu 1989 (capacitors): 3802.19 kW, 2694.6 kVAr; MATPOWER's per-bus loads are
        # rounded to 0.1 kW and sum to 3802.1 kW, 2694.7 kVAr
        ("case69", 3.80219, 2.6946, 2e-4),
        # Das et al. 1995: 2570.28 kW, 2622.08 kVAr, less the duplicated 56 kW + 57.13 kVAr
        # that MATPOWER's case85 v2 removed (its header says so)
        ("case85", 2.57028 - 0.056, 2.62208 - 0.05713, 2e-4),
        # IEEE 30: 283.4 MW, 126.2 MVAr, scaled, minus the 19 + 4.3 MVAr shunt capacitors
        ("ieee30-radial", 0.4 * 283.4, 0.4 * 126.2 - 23.3, 1e-9),
    ],
)
def test_total_loads_match_published_values(
    name: str, p_mw: float, q_mvar: float, tolerance: float
) -> None:
    f = feeder(name)
    assert f.total_load_mw == pytest.approx(p_mw, abs=tolerance)
    assert f.total_load_mvar == pytest.approx(q_mvar, abs=tolerance)


def test_case141_loads_are_kva_at_power_factor_085() -> None:
    total_kva = case_matrix((DATA / "case141.m").read_text(), "bus")[:, 2].sum()
    f = feeder("case141")
    assert f.total_load_mw == pytest.approx(total_kva * 0.85 / 1e3, rel=1e-12)
    assert f.total_load_mvar == pytest.approx(total_kva * math.sqrt(1 - 0.85**2) / 1e3, rel=1e-12)
    assert f.total_load_mw == pytest.approx(11.944625, abs=1e-9)


def test_case18_loads_and_capacitors() -> None:
    # Grady et al. 1992 as in case18.m, summed by hand: PD 11.6 MW, QD 7.59 MVAr, BS 10.05 MVAr
    plain = feeder_from_matpower(DATA / "case18.m", shunts="ignore")
    assert plain.total_load_mw == pytest.approx(11.6, abs=1e-9)
    assert plain.total_load_mvar == pytest.approx(7.59, abs=1e-9)
    assert feeder("case18").total_load_mvar == pytest.approx(7.59 - 10.05, abs=1e-9)
    with pytest.raises(InvalidInputError, match="bus 2 has a shunt"):
        feeder_from_matpower(DATA / "case18.m", shunts="error")


# --------------------------------------------------------------------------------------------
# AC power flow against pandapower and the literature


def test_case33bw_power_flow_matches_pandapower_and_baran_wu() -> None:
    net = case33bw_net()
    pp.runpp(net, algorithm="nr", init="flat", tolerance_mva=1e-10, numba=False)
    result = flow("case33bw")
    assert result.converged
    assert result.total_loss_mw == pytest.approx(net.res_line.pl_mw.sum(), abs=1e-9)
    np.testing.assert_allclose(
        result.vm_pu, net.res_bus.vm_pu.loc[feeder("case33bw").bus_ids - 1], atol=1e-9
    )
    assert result.slack_p_mw == pytest.approx(net.res_ext_grid.p_mw.iloc[0], abs=1e-9)
    # published: 202.68 kW, Vmin 0.9131 at bus 18
    assert result.total_loss_mw * 1e3 == pytest.approx(202.68, abs=0.01)
    assert result.min_vm_pu == pytest.approx(0.9131, abs=1e-4)
    assert feeder("case33bw").bus_ids[np.argmin(result.vm_pu)] == 18


def test_case69_power_flow_matches_literature() -> None:
    # Baran & Wu 1989: losses 224.9 kW, Vmin 0.9092 p.u. at bus 65
    result = flow("case69")
    assert result.total_loss_mw * 1e3 == pytest.approx(224.9, abs=0.2)
    assert result.min_vm_pu == pytest.approx(0.9092, abs=1e-4)
    assert feeder("case69").bus_ids[np.argmin(result.vm_pu)] == 65


@pytest.mark.parametrize(
    ("name", "ohm_kw", "power_factor"),
    [
        ("case18", False, None),
        ("case69", True, None),
        ("case85", True, None),
        ("case141", True, 0.85),
    ],
)
def test_matpower_feeders_match_pandapower_on_the_raw_case_data(
    name: str, ohm_kw: bool, power_factor: float | None
) -> None:
    loss_mw, v_min, v_min_bus = independent_flow(
        name, ohm_kw=ohm_kw, kva_power_factor=power_factor
    )
    result = flow(name)
    assert result.converged
    # case141's bus tie is 1e-4 ohm here and 1e-5 ohm in the file: 0.03 W, 1e-7 p.u.
    assert result.total_loss_mw == pytest.approx(loss_mw, abs=1e-7)
    assert result.min_vm_pu == pytest.approx(v_min, abs=1e-6)
    assert feeder(name).bus_ids[np.argmin(result.vm_pu)] == v_min_bus


def test_case85_power_flow_is_near_the_paper() -> None:
    # Das et al. 1995: Vmin 0.8713 at bus 54 with 56 kW more load at the far end than
    # MATPOWER's v2 keeps; the minimum stays at bus 54, a little higher
    result = flow("case85")
    assert feeder("case85").bus_ids[np.argmin(result.vm_pu)] == 54
    assert 0.8713 < result.min_vm_pu < 0.8713 + 0.005


def test_branch_currents_follow_distflow_losses() -> None:
    f = feeder("case33bw")
    result = flow("case33bw")
    # no shunt admittance: loss = r·ℓ·S_base on every branch (Baran & Wu's DistFlow)
    np.testing.assert_allclose(
        result.branch_loss_mw, f.r_pu * result.branch_current_pu_squared * f.base_mva, atol=1e-12
    )
    # and the slack's P is the sum of its outgoing branch flows
    out = result.branch_p_from_mw[f.branch_from == f.slack_bus].sum()
    assert result.slack_p_mw == pytest.approx(out, abs=1e-9)


def test_non_convergence_is_a_result() -> None:
    f = feeder("case33bw")
    result = run_ac_power_flow(f, f.load_p_mw * 30, f.load_q_mvar * 30)
    assert not result.converged
    assert np.isnan(result.vm_pu).all()
    # the feeder's pandapower net is reused: the next run must see the new loads again
    again = run_ac_power_flow(f, f.load_p_mw, f.load_q_mvar)
    assert again.total_loss_mw * 1e3 == pytest.approx(202.68, abs=0.01)
    half = run_ac_power_flow(f, f.load_p_mw / 2, f.load_q_mvar / 2)
    assert half.slack_p_mw < again.slack_p_mw / 2 + 0.01


# --------------------------------------------------------------------------------------------
# MATPOWER and pandapower agree on case33bw; round trips


def test_case33bw_from_pandapower_equals_matpower_parse() -> None:
    ours = feeder("case33bw")
    parsed = feeder_from_matpower(DATA / "case33bw.m")
    assert ours.branch_ids == parsed.branch_ids
    for name in ("bus_ids", "branch_from", "branch_to"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(parsed, name))
    for name in ("r_pu", "x_pu", "load_p_mw", "load_q_mvar", "v_min_pu", "v_max_pu",
                 "branch_rating_mva"):
        np.testing.assert_allclose(getattr(ours, name), getattr(parsed, name), atol=1e-9, rtol=0)
    for name in ("base_mva", "base_kv", "slack_bus", "slack_voltage_pu", "upstream_p_min_mw",
                 "upstream_p_max_mw", "upstream_q_min_mvar", "upstream_q_max_mvar",
                 "upstream_cost"):
        assert getattr(ours, name) == getattr(parsed, name), name


def test_pandapower_round_trip_through_a_json_file(tmp_path: Path) -> None:
    f = feeder("case69")
    path = tmp_path / "feeder69.json"
    pp.to_json(pandapower_net(f, f.load_p_mw, f.load_q_mvar), str(path))
    back = load_feeder(str(path))
    assert back.name == "feeder69"
    np.testing.assert_array_equal(back.bus_ids, f.bus_ids)
    for name in ("r_pu", "x_pu", "load_p_mw", "load_q_mvar", "v_min_pu", "v_max_pu"):
        np.testing.assert_allclose(getattr(back, name), getattr(f, name), rtol=1e-12)
    assert back.upstream_cost == f.upstream_cost
    assert back.upstream_p_max_mw == f.upstream_p_max_mw


def test_pandapower_conversion_of_switches_sgens_and_trafo() -> None:
    net = pp.create_empty_network(sn_mva=10.0)
    hv = pp.create_bus(net, 20.0)
    lv = pp.create_bus(net, 0.4, max_vm_pu=1.05)
    twin = pp.create_bus(net, 0.4, min_vm_pu=0.95)
    far = pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, hv, vm_pu=1.02)
    pp.create_transformer_from_parameters(net, hv, lv, sn_mva=0.4, vn_hv_kv=20.0, vn_lv_kv=0.4,
                                          vkr_percent=1.5, vk_percent=6.0, pfe_kw=0.0,
                                          i0_percent=0.0)
    pp.create_switch(net, lv, twin, et="b", closed=True)
    pp.create_line_from_parameters(net, twin, far, 0.5, 0.2, 0.08, 0.0, 0.3, parallel=2)
    pp.create_load(net, far, p_mw=0.1, q_mvar=0.03, scaling=2.0)
    pp.create_load(net, twin, p_mw=0.05, q_mvar=0.0)
    pp.create_sgen(net, far, p_mw=0.04, q_mvar=0.01)
    f = feeder_from_pandapower(net, "small")
    np.testing.assert_array_equal(f.bus_ids, [0, 1, 3])
    assert f.bus_ids[f.slack_bus] == 0 and f.slack_voltage_pu == 1.02
    np.testing.assert_allclose(f.load_p_mw, [0.0, 0.05, 0.2 - 0.04])
    np.testing.assert_allclose(f.load_q_mvar, [0.0, 0.0, 0.06 - 0.01])
    assert (f.v_min_pu[1], f.v_max_pu[1]) == (0.95, 1.05)
    trafo = f.branch_ids.index("trafo 0")
    line = f.branch_ids.index("line 0")
    # 6 % on 0.4 MVA is 0.06·10/0.4 = 1.5 p.u. on 10 MVA; r 1.5 % -> 0.375 p.u.
    assert f.r_pu[trafo] == pytest.approx(0.375)
    assert f.x_pu[trafo] == pytest.approx(math.sqrt(1.5**2 - 0.375**2))
    assert f.r_pu[line] == pytest.approx(0.2 * 0.5 / 2 / (0.4**2 / 10))
    assert f.branch_rating_mva[line] == pytest.approx(math.sqrt(3) * 0.4 * 0.3 * 2)
    assert f.branch_rating_mva[trafo] == pytest.approx(0.4)
    # the same net through pandapower itself: voltages agree (no taps, no magnetizing)
    pp.runpp(net, init="flat", tolerance_mva=1e-10, numba=False)
    result = run_ac_power_flow(f, f.load_p_mw, f.load_q_mvar)
    np.testing.assert_allclose(result.vm_pu, net.res_bus.vm_pu.loc[[0, 1, 3]], atol=1e-8)


def test_ieee30_parse_matches_pandapower_networks() -> None:
    case = read_matpower_case(DATA / "case_ieee30.m")
    net = pn.case_ieee30()
    loads = net.load.groupby("bus")[["p_mw", "q_mvar"]].sum()
    by_bus = np.zeros((30, 2))
    by_bus[loads.index.to_numpy()] = loads.to_numpy()
    np.testing.assert_allclose(case.bus[:, 2:4], by_bus, atol=1e-9)
    gens = net.gen.sort_values("bus")
    costs = net.poly_cost.set_index(["et", "element"])
    for data, (index, row) in zip(IEEE30_GENERATORS, gens.iterrows(), strict=True):
        assert data.bus == row.bus + 1
        assert (data.p_min_mw, data.p_max_mw) == (row.min_p_mw, row.max_p_mw)
        cost = costs.loc[("gen", index)]
        assert data.cost_c2_per_mw2h == pytest.approx(cost.cp2_eur_per_mw2)
        assert data.cost_c1_per_mwh == pytest.approx(cost.cp1_eur_per_mw)
    # pandapower's stored case_ieee30 has the reactive limits negated and swapped; read them
    # from the case file instead (QMAX column 4, QMIN column 5)
    text = (DATA / "case_ieee30.m").read_text()
    gen, gencost = case_matrix(text, "gen"), case_matrix(text, "gencost")
    for data, row, cost_row in zip(IEEE30_GENERATORS, gen[1:], gencost[1:], strict=True):
        assert (data.bus, data.q_min_mvar, data.q_max_mvar) == (row[0], row[4], row[3])
        assert (data.p_min_mw, data.p_max_mw) == (row[9], row[8])
        assert (data.cost_c2_per_mw2h, data.cost_c1_per_mwh, data.cost_c0_per_h) == tuple(
            cost_row[4:7]
        )


def test_ieee30_radial_rule_and_voltages() -> None:
    case = read_matpower_case(DATA / "case_ieee30.m")
    kept = shortest_path_tree(case, root=1)
    opened = sorted(set(range(case.branch.shape[0])) - set(kept))
    assert [f"line {k + 1}" for k in opened] == [b for b, _, _ in IEEE30_OPENED_BRANCHES]
    assert [(int(case.branch[k, 0]), int(case.branch[k, 1])) for k in opened] == [
        (a, b) for _, a, b in IEEE30_OPENED_BRANCHES
    ]
    f = feeder("ieee30-radial")
    assert f.num_buses == 30 and f.num_branches == 29
    assert not set(f.branch_ids) & {b for b, _, _ in IEEE30_OPENED_BRANCHES}
    result = flow("ieee30-radial")
    assert result.converged and result.min_vm_pu >= 0.94  # the case's VMIN
    # the next multiple of 0.05 breaks the 0.94 p.u. floor (shunts at buses 10, 24 not scaled)
    ratio = (IEEE30_LOAD_SCALE + 0.05) / IEEE30_LOAD_SCALE
    shunt = np.zeros(30)
    shunt[[f.bus_index(10), f.bus_index(24)]] = [19.0, 4.3]
    heavier = run_ac_power_flow(
        f, f.load_p_mw * ratio, (f.load_q_mvar + shunt) * ratio - shunt
    )
    assert not heavier.converged or heavier.min_vm_pu < 0.94


# --------------------------------------------------------------------------------------------
# validation errors name the item at fault


def case33bw_text() -> str:
    return (DATA / "case33bw.m").read_text()


def write_case(tmp_path: Path, text: str, name: str = "case33bw.m") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edit_row(text: str, matrix: str, row: int, column: int, value: str) -> str:
    """Set one entry of a case file's matrix (1-based row and column) in the text."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"mpc.{matrix} = ["))
    target = start + row
    values = lines[target].strip().rstrip(";").split()
    values[column - 1] = value
    lines[target] = "\t" + "\t".join(values) + ";\n"
    return "".join(lines)


#: case33bw's loop through the 21-8 tie (line 33): 2-3-4-5-6-7-8 and 2-19-20-21
TIE_21_8_LOOP = {f"line {k}" for k in (2, 3, 4, 5, 6, 7, 18, 19, 20, 33)}


def test_meshed_feeder_names_the_loop(tmp_path: Path) -> None:
    text = edit_row(case33bw_text(), "branch", 33, 11, "1")  # close the 21-8 tie
    with pytest.raises(InvalidInputError, match=r"not radial: branches .* form a loop") as error:
        feeder_from_matpower(write_case(tmp_path, text))
    assert set(re.findall(r"line \d+", str(error.value))) == TIE_21_8_LOOP


def test_islanded_bus_is_named(tmp_path: Path) -> None:
    text = edit_row(case33bw_text(), "branch", 32, 11, "0")  # open 32-33
    with pytest.raises(InvalidInputError, match="bus 33 is islanded"):
        feeder_from_matpower(write_case(tmp_path, text))


def test_missing_and_double_slack(tmp_path: Path) -> None:
    no_slack = edit_row(case33bw_text(), "bus", 1, 2, "1")
    with pytest.raises(InvalidInputError, match="has no slack bus"):
        feeder_from_matpower(write_case(tmp_path, no_slack))
    two = edit_row(case33bw_text(), "bus", 18, 2, "3")
    with pytest.raises(InvalidInputError, match=r"2 slack buses \(1, 18\)"):
        feeder_from_matpower(write_case(tmp_path, two))


def test_non_positive_resistance_names_the_branch(tmp_path: Path) -> None:
    text = edit_row(case33bw_text(), "branch", 5, 3, "0")
    with pytest.raises(InvalidInputError, match="branch line 5 has non-positive"):
        feeder_from_matpower(write_case(tmp_path, text))


def test_loads_in_kw_are_a_unit_mix_up(tmp_path: Path) -> None:
    text = case33bw_text().replace("mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3;", "")
    with pytest.raises(InvalidInputError, match="unit mix-up"):
        feeder_from_matpower(write_case(tmp_path, text))


def test_parse_error_names_file_and_line(tmp_path: Path) -> None:
    text = case33bw_text()
    lines = text.splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.startswith("\t5\t1\t60\t30"))
    lines[row] = lines[row].replace("\t60\t30", "\t60\tabc")
    path = write_case(tmp_path, "".join(lines))
    with pytest.raises(InvalidInputError, match=rf"case33bw\.m:{row + 1}: .*'abc'"):
        read_matpower_case(path)
    ragged = text.replace("\t7\t1\t200\t100\t0", "\t7\t1\t200\t100")
    ragged_line = ragged.splitlines().index(next(
        line for line in ragged.splitlines() if line.startswith("\t7\t1\t200\t100")
    )) + 1
    with pytest.raises(InvalidInputError, match=rf"case33bw\.m:{ragged_line}: .*12 columns"):
        read_matpower_case(write_case(tmp_path, ragged))


def test_unsupported_matlab_statement_names_file_and_line(tmp_path: Path) -> None:
    text = case33bw_text() + "mpc.bus(:, VMAX) = 1.05;\n"
    line = len(text.splitlines())
    with pytest.raises(InvalidInputError, match=rf"case33bw\.m:{line}: unsupported MATLAB"):
        read_matpower_case(write_case(tmp_path, text))
    shifted = case33bw_text() + "mpc.bus(:, PD) = mpc.bus(:, PD) + 2;\n"
    with pytest.raises(InvalidInputError, match="unsupported MATLAB statement"):
        read_matpower_case(write_case(tmp_path, shifted))
    undefined = case33bw_text() + "mpc.gen(:, PMAX) = mpc.gen(:, PMAX) * 2;\n"
    with pytest.raises(InvalidInputError, match="'PMAX' is not defined"):
        read_matpower_case(write_case(tmp_path, undefined))
    # a column scaling of the recognized form, with its names bound, is applied (not skipped)
    scaled = undefined.replace("mpc.gen(:", "[GEN_BUS, PG, QG, QMAX, QMIN, VG, MBASE, "
                               "GEN_STATUS, PMAX] = idx_gen;\nmpc.gen(:", 1)
    assert feeder_from_matpower(write_case(tmp_path, scaled)).upstream_p_max_mw == 20.0


def test_matpower_syntax_is_read(tmp_path: Path) -> None:
    text = """function mpc = tiny
%{
  a block comment with mpc.bus(:, 1) = 0;
%}
mpc.version = '2';
mpc.baseMVA = 1;  mpc.name = 'it''s % not a comment';
mpc.bus = [1 3 0 0 0 0 1 1 0 10 1 1.1 0.9;  % slack
           2, 1, 0.5, 0.1, 0, 0, 1, 1, 0, 10, 1, 1.1, ...
           0.9];
mpc.gen = [1 0 0 Inf -Inf 1.0 100 1 Inf -Inf];
mpc.branch = [
    1 2 0.01 0.02 0 0 0 0 0 0 1
];
mpc.gencost = [2 0 0 2 30 5];
"""
    f = feeder_from_matpower(write_case(tmp_path, text, "tiny.m"))
    assert f.name == "tiny"
    np.testing.assert_array_equal(f.bus_ids, [1, 2])
    assert f.branch_rating_mva[0] == math.inf
    assert f.upstream_p_max_mw == math.inf and f.upstream_q_min_mvar == -math.inf
    assert (f.upstream_cost.quadratic_per_mw2h, f.upstream_cost.linear_per_mwh,
            f.upstream_cost.constant_per_h) == (0.0, 30.0, 5.0)


def test_generator_away_from_the_slack_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"generator 2 \(row 2 of mpc.gen\) at bus 2"):
        feeder_from_matpower(DATA / "case_ieee30.m")


def test_pandapower_validation_names_the_element() -> None:
    net = case33bw_net()
    net.line.loc[32, "in_service"] = True  # the 21-8 tie; pandapower numbers lines from 0
    with pytest.raises(InvalidInputError, match="not radial: branches line") as error:
        feeder_from_pandapower(net, "meshed")
    named = {f"line {int(k) + 1}" for k in re.findall(r"line (\d+)", str(error.value))}
    assert named == TIE_21_8_LOOP
    net = case33bw_net()
    pp.create_ext_grid(net, 17)
    # two supply points in one connected net: meshed between substations, not two feeders
    with pytest.raises(InvalidInputError,
                       match=r"ext_grid 0 \(bus 0\), ext_grid 1 \(bus 17\) are connected"):
        feeder_from_pandapower(net, "two")
    net = case33bw_net()
    pp.create_gen(net, 5, p_mw=0.1)
    with pytest.raises(InvalidInputError, match=r"gen 0 .*bus 5"):
        feeder_from_pandapower(net, "gen")


def test_unknown_names_and_suffixes(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="case33bw, case18, case69, case85, case141"):
        load_feeder("case34")
    with pytest.raises(InvalidInputError, match=r"unknown feeder file type '\.csv'"):
        feeder_from_file(tmp_path / "feeder.csv")
    assert load_feeder(str(DATA / "case69.m")).num_buses == 69
