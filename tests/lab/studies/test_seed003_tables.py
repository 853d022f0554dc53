"""Seed 003's Table 3, voltage difference and claims table, checked from outside.

Table 3 at full demand is checked against the TNTP collection's best-known Sioux Falls flows (an
independent solution; skipped without ``$PTN_TNTP_DIR``) and a link's BPR time by hand; the
paper's rows against its own printed numbers divided by hand; the voltage difference against a
subtraction written here; the claims' verdicts against summaries written here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import MultiPeriodSpec
from ptn.engines.traffic.tntp import read_tntp_network
from ptn.lab.studies.seed003_claims import claims_table
from ptn.lab.studies.seed003_figures import plot_voltage_difference, voltage_difference_pu
from ptn.lab.studies.seed003_report import gain_decomposition, voltage_difference_section
from ptn.lab.studies.seed003_table3 import (
    full_demand_equilibrium,
    full_demand_spec,
    paper_rows,
    table3_rows,
)


@pytest.fixture(scope="module")
def sioux_falls_spec(tntp_directory: Callable[[str], Path]) -> MultiPeriodSpec:
    """Two periods at 0.3 and 0.5 of the demand with a tiny EV share (1e-6), stations at
    nodes 10 and 16."""
    network = read_tntp_network(tntp_directory("SiouxFalls"))
    stations = tuple(ChargingStation(name, node, 1500.0, 0.5, 0.5, np.full(2, 30.0))
                     for name, node in (("cs7", 10), ("cs16", 16)))
    demand = np.outer([0.3, 0.5], network.od_demand)
    return MultiPeriodSpec(ChargingNetworkSpec(network, stations), demand * (1 - 1e-6),
                           demand * 1e-6, max_shift_periods=0, price_sensitivity=0.0)


def test_full_demand_flows_are_the_tntp_best_known(sioux_falls_spec: MultiPeriodSpec) -> None:
    full = full_demand_spec(sioux_falls_spec)
    network = sioux_falls_spec.charging.network
    assert full.num_periods == 1
    np.testing.assert_allclose(full.gv_demand_veh_per_h[0] + full.ev_demand_veh_per_h[0],
                               network.od_demand, rtol=1e-12)
    assert full.ev_demand_veh_per_h.sum() == pytest.approx(1e-6 * network.od_demand.sum())
    rows = table3_rows(full_demand_equilibrium(sioux_falls_spec, 30.0, gap=1e-10))
    assert len(rows) == 76
    flow = np.array([row["ue_flow_veh_per_h"] for row in rows])
    best = np.array([row["tntp_best_known_flow_veh_per_h"] for row in rows])
    # a third of an EV takes a detour through a station: the rest is the TNTP best-known
    # equilibrium (with 0.01 % EVs, 36 veh/h, links near the stations move by up to 9 veh/h)
    np.testing.assert_allclose(flow, best, atol=0.5)
    by_link = {row["link"]: row for row in rows}
    link = by_link["10→16"]  # capacity 4,854.92, free-flow 4 min, BPR 0.15/4
    x = link["ue_flow_veh_per_h"]
    assert link["ue_travel_time"] == pytest.approx(4.0 * (1 + 0.15 * (x / 4854.917717) ** 4),
                                                   rel=1e-9)
    assert link["congestion_factor"] == pytest.approx(x / 4854.917717, rel=1e-12)
    assert 2.2 < link["congestion_factor"] < 2.35  # best known: 11,047 veh/h


def test_the_paper_rows_are_flagged_where_its_own_numbers_disagree() -> None:
    capacity = np.array([25900.20064, 4958.180928, 17110.52372, 5000.0])
    rows = {row["arc"]: row for row in paper_rows(capacity, ["1→2", "2→6", "3→4", "22→23"])}
    # by hand: 5,857.34 / 4,958.18 = 1.18135 (printed 0.9830); 13,679.45 / 17,110.52 = 0.79948
    # (printed 0.7794); 17,463.84 / 11,110.52 = 1.57183 (printed 1.572)
    assert rows["L14–L26"]["congestion_factor_recomputed"] == pytest.approx(1.18135, abs=1e-5)
    assert rows["L18–L30"]["congestion_factor_recomputed"] == pytest.approx(0.79948, abs=1e-5)
    assert [arc for arc, row in rows.items() if not row["printed_factor_agrees"]] == [
        "L14–L26", "L18–L30"]
    assert rows["L14–L26"]["links_with_this_capacity"] == "2→6"
    assert rows["L1–L2"]["links_with_this_capacity"] == "1→2"
    assert rows["L7–L17"]["links_with_this_capacity"] == ""


def test_voltage_difference_is_after_minus_before(tmp_path: Path) -> None:
    before = np.array([[1.0, 0.95], [0.93, 0.92]])
    after = np.array([[1.0, 0.96], [0.925, 0.92]])
    difference = voltage_difference_pu(before, after)
    # each period's lowest voltage: period 0 from 0.93 to 0.925 (a fall), period 1 0.92 (same)
    summary_part, _, lines = voltage_difference_section(["1", "2"], before, after, tmp_path)
    counts = summary_part["voltage_difference"]
    assert (counts["periods_lowest_voltage_up"], counts["periods_lowest_voltage_down"]) == (0, 1)
    assert counts["max_bus"] == "1" and counts["min_bus"] == "2" and len(lines) == 2
    np.testing.assert_allclose(difference, [[0.0, 0.01], [-0.005, 0.0]], atol=1e-15)
    path = plot_voltage_difference(difference, ["1", "2"], tmp_path / "difference.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidInputError):
        voltage_difference_pu(before, after[:, :1])
    with pytest.raises(InvalidInputError):
        plot_voltage_difference(difference, ["1"], tmp_path / "bad.png")


def summary(gain_percent: float, drop_percent: float, *, relieved: bool = True
            ) -> dict[str, object]:
    return {
        "periods": 24,
        "paper_costs": [{"operation": "negotiated", "paper_accounting_saving_usd": 6000.0,
                         "paper_accounting_saving_percent": 5.9}],
        "paper_cost_savings": [{"operation": "negotiated", "paper_objective_saving_percent": 0.01,
                                "social_cost_saving_percent": 0.02}],
        "paper_table2_accounting": {"saving": 3134.0, "saving_percent": 36.42},
        "hosting": {"gain_percent": gain_percent,
                    "modes": [{"operation": "coordinated",
                               "periods_at_band": "8;17;18" if relieved else "8;12"}]},
        "voltages": {"before": {"worst_bus": "30", "voltage_min_pu": 0.93},
                     "after": {"max_voltage_drop_by_evs_percent": drop_percent,
                               "voltage_min_pu": 0.931 if relieved else 0.929}},
        "voltage_difference": {"max_pu": 0.001, "max_bus": "7", "min_pu": -0.0005,
                               "min_bus": "16", "periods": 24,
                               "periods_lowest_voltage_up": 23 if relieved else 0,
                               "periods_lowest_voltage_down": 0 if relieved else 2},
        "table3": {"max_congestion_factor": 2.56, "max_abs_flow_difference_to_best_known": 190},
        "negotiation": {"status": "converged", "rounds": 5, "gap_to_centralized": 1e-7},
    }


def verdicts(table: list[str]) -> dict[str, str]:
    cells = [line.split(" | ") for line in table[2:]]
    return {row[0].lstrip("| "): row[3].rstrip(" |") for row in cells}


def test_claims_verdicts_follow_the_numbers() -> None:
    close = verdicts(claims_table(summary(39.2, 0.2)))
    assert close["coordination hosts 45 % more EV penetration"].startswith("reproduced (")
    assert close["voltage magnitudes deviate by 0.1–0.3 %"] == "reproduced"
    far = verdicts(claims_table(summary(20.0, 1.58)))
    assert far["coordination hosts 45 % more EV penetration"].startswith(
        "reproduced in direction")
    assert far["voltage magnitudes deviate by 0.1–0.3 %"].startswith("differs")
    none = verdicts(claims_table(summary(-1.0, 1.58)))
    assert none["coordination hosts 45 % more EV penetration"].startswith("differs")
    table = claims_table(summary(39.2, 0.2))
    assert table[0] == "| claim | paper | ptn | verdict |"
    assert all(line.count(" | ") == 3 for line in table[2:])
    assert any("36.42 %" in line and "5.90 %" in line for line in table)
    hours = "the stress is highest at 7–9 h and 17–19 h"
    assert close[hours].startswith("reproduced (")
    assert verdicts(claims_table(summary(39.2, 0.2, relieved=False)))[hours].startswith(
        "reproduced in direction")
    relief = "optimization relieves the stressed buses (Fig. 4)"
    assert close[relief].startswith("reproduced in direction")
    assert verdicts(claims_table(summary(39.2, 0.2, relieved=False)))[relief].startswith(
        "differs")


def test_gain_decomposition_by_hand() -> None:
    # the 24-hour study's hour 17: uncoordinated 21.277 + 18.784 MW at 2.46875, coordinated
    # 22.056 + 33.725 MW at 3.4375; by hand 55.781 / 40.061 = 1.39240 = 3.4375 / 2.46875
    rows = [{"binding_period": 17, "a_mw_in_binding_period": 21.277,
             "b_mw_in_binding_period": 18.784},
            {"binding_period": 17, "a_mw_in_binding_period": 22.056,
             "b_mw_in_binding_period": 33.725}]
    parts = gain_decomposition(rows, ("a", "b"))
    assert parts["uncoordinated_share"] == pytest.approx(21.277 / 40.061)
    assert parts["coordinated_ratio"] == pytest.approx(1 + 33.725 / 22.056)
    assert parts["product"] == pytest.approx(55.781 / 40.061)
    assert parts["product"] == pytest.approx(3.4375 / 2.46875, rel=1e-4)
    assert gain_decomposition([rows[0], {**rows[1], "binding_period": 8}], ("a", "b")) == {}
