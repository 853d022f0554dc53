"""The TNTP collection's variants load, and what cannot load is refused in one line naming it.

Cases taken from the collection (files written here, never read from it): Birmingham's
``Birmingham_Net.tntp``, GoldCoast's ``Goldcoast_network_2016_01.tntp`` without trips, Munich's
empty free-flow-time field, its ``inf`` free-flow times and its node labels that are not 1..N
(zones named by node label); and demand that is zero everywhere in the charging, multi-period
and per-period SUE problems.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.assignment import solve_user_equilibrium
from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import (
    ChargingNetworkSpec,
    ChargingStation,
    build_charging_problem,
)
from ptn.engines.traffic.multiperiod import MultiPeriodSpec
from ptn.engines.traffic.problem import problem_from_network
from ptn.engines.traffic.sue_periods import SuePeriodsSpec
from ptn.engines.traffic.tntp import read_tntp_network

NET = ("<NUMBER OF ZONES> 2\n<NUMBER OF NODES> 4\n<NUMBER OF LINKS> {links}\n"
       "<END OF METADATA>\n~ init term capacity length fftt b power speed toll type ;\n")
#: a 4-node diamond with labels 1..4: zones 1 and 2, through nodes 3 and 4
LINKS = [(1, 3, 100.0, 4.0), (3, 2, 100.0, 3.0), (1, 4, 80.0, 5.0), (4, 2, 80.0, 1.0),
         (3, 4, 50.0, 1.0)]
TRIPS = "<NUMBER OF ZONES> 2\n<END OF METADATA>\nOrigin {o}\n {d} : 250.0;\n"


def write(directory: Path, net_name: str = "X_net.tntp", trips_name: str | None = "X_trips.tntp",
          labels: dict[int, int] | None = None, rows: list[str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    relabel = labels or {}
    if rows is None:
        rows = [f"\t{relabel.get(t, t)}\t{relabel.get(h, h)}\t{c}\t1\t{f}\t0.15\t4\t0\t0\t1\t;"
                for t, h, c, f in LINKS]
    (directory / net_name).write_text(NET.format(links=len(rows)) + "\n".join(rows) + "\n")
    if trips_name is not None:
        (directory / trips_name).write_text(TRIPS.format(o=relabel.get(1, 1),
                                                         d=relabel.get(2, 2)))
    return directory


def test_file_names_match_case_insensitively_and_the_network_variant(tmp_path: Path) -> None:
    network = read_tntp_network(write(tmp_path / "a", "Birmingham_Net.tntp",
                                      "Birmingham_Trips.tntp"))
    assert (network.num_links, network.total_demand) == (5, 250.0)
    network = read_tntp_network(write(tmp_path / "b", "Goldcoast_network_2016_01.tntp",
                                      "Goldcoast_trips_2016_01.tntp"))
    assert network.num_links == 5


def test_a_directory_without_trips_says_exactly_that(tmp_path: Path) -> None:
    directory = write(tmp_path / "gc", "Goldcoast_network_2016_01.tntp", None)
    with pytest.raises(InvalidInputError, match=r"gc: no trips file \(\*_trips\.tntp\) next to "
                                                r"Goldcoast_network_2016_01\.tntp: the network "
                                                r"has no demand to assign$"):
        read_tntp_network(directory)


def test_two_candidate_net_files_are_refused_naming_both(tmp_path: Path) -> None:
    directory = write(tmp_path / "two")
    (directory / "Y_net.tntp").write_text((directory / "X_net.tntp").read_text())
    with pytest.raises(InvalidInputError, match=r"several net files \(X_net\.tntp, Y_net\.tntp\)"):
        read_tntp_network(directory)


def test_an_empty_field_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    rows = [f"\t{t}\t{h}\t{c}\t1\t{f}\t0.15\t4\t0\t0\t1\t;" for t, h, c, f in LINKS]
    rows[1] = "\t3\t2\t0\t0.0\t\t0.15\t4\t0.0\t0\t0\t;"  # Munich's line 1418
    with pytest.raises(InvalidInputError,
                       match=r"X_net\.tntp:7: field 5 \(free_flow_time\) is empty$"):
        read_tntp_network(write(tmp_path / "empty", rows=rows))


def test_an_infinite_free_flow_time_is_refused_naming_the_line(tmp_path: Path) -> None:
    rows = [f"\t{t}\t{h}\t{c}\t1\t{f}\t0.15\t4\t0\t0\t1\t;" for t, h, c, f in LINKS]
    rows[3] = "\t4\t2\t80\t0.0\tinf\t0.15\t4\t0\t0\t1\t;"
    with pytest.raises(InvalidInputError, match=r"X_net\.tntp:9: inf: link 4->2 has a "
                                                r"non-finite free_flow_time inf$"):
        read_tntp_network(write(tmp_path / "inf", rows=rows))


def test_zero_capacity_connectors_with_zero_free_flow_time_cost_nothing(tmp_path: Path) -> None:
    """Munich's and other city networks' connectors: capacity 0, free-flow time 0, b 0.15.

    BPR's ``t0 * (1 + b (x/c)^p)`` is 0 for any flow when ``t0 = 0``, so the network is the same
    as one whose connectors have a huge capacity: same equilibrium."""
    body = [(5, 3, 100.0, 4.0), (3, 6, 100.0, 3.0), (5, 4, 80.0, 5.0), (4, 6, 80.0, 1.0),
            (3, 4, 50.0, 1.0)]

    def network(name: str, connector_capacity: float, connector_time: float = 0.0) -> Path:
        rows = [f"\t{t}\t{h}\t{connector_capacity}\t0\t{connector_time}\t0.15\t4\t0\t0\t1\t;"
                for t, h in ((1, 5), (6, 2))]
        rows += [f"\t{t}\t{h}\t{c}\t1\t{f}\t0.15\t4\t0\t0\t1\t;" for t, h, c, f in body]
        directory = tmp_path / name
        directory.mkdir()
        header = NET.replace("<NUMBER OF NODES> 4", "<NUMBER OF NODES> 6")
        (directory / "X_net.tntp").write_text(header.format(links=len(rows)) + "\n".join(rows))
        (directory / "X_trips.tntp").write_text(TRIPS.format(o=1, d=2))
        return directory

    zero = read_tntp_network(network("zero", 0.0))
    wide = read_tntp_network(network("wide", 1e9))
    assert zero.capacity[:2].tolist() == [0.0, 0.0]
    assert not zero.is_flow_dependent()[:2].any() and zero.is_flow_dependent()[2:].all()
    got = solve_user_equilibrium(problem_from_network(zero), gap=1e-12)
    want = solve_user_equilibrium(problem_from_network(wide), gap=1e-12)
    assert np.isfinite(got.link_flow).all()
    np.testing.assert_allclose(got.link_flow, want.link_flow, atol=1e-6)
    assert got.link_flow[0] == pytest.approx(250.0)
    # a zero-capacity link that takes time is still refused, naming it
    with pytest.raises(InvalidInputError, match=r"X_net\.tntp:6: .*link 1->5 has non-positive "
                                                r"capacity 0 but a flow-dependent cost"):
        read_tntp_network(network("bad", 0.0, connector_time=0.5))


def test_node_labels_that_are_not_one_to_n_load_and_solve_like_the_renumbered_network(
    tmp_path: Path,
) -> None:
    labels = {1: 1_000_000, 2: 75_674, 3: 2_146_237_932, 4: 113_707}
    relabelled = read_tntp_network(write(tmp_path / "munich-like", labels=labels))
    plain = read_tntp_network(write(tmp_path / "plain"))
    assert sorted(relabelled.node_ids.tolist()) == sorted(labels.values())
    assert [relabelled.link_label(a) for a in range(5)] == [
        f"{labels[t]}->{labels[h]}" for t, h, _, _ in LINKS]
    got = solve_user_equilibrium(problem_from_network(relabelled), gap=1e-12)
    want = solve_user_equilibrium(problem_from_network(plain), gap=1e-12)
    np.testing.assert_allclose(got.link_flow, want.link_flow, atol=1e-6)
    assert want.link_flow[4] > 1.0  # the cross link is used: the two routes really differ


def test_a_zone_label_that_is_no_node_is_refused(tmp_path: Path) -> None:
    labels = {1: 1_000_000, 2: 75_674, 3: 2_146_237_932, 4: 113_707}
    directory = write(tmp_path / "bad-zone", labels=labels)
    (directory / "X_trips.tntp").write_text(TRIPS.format(o=1_000_000, d=42))
    with pytest.raises(InvalidInputError, match=r"X_trips\.tntp:4: unknown destination zone 42 "
                                                r"\(no node of the network has that label\)"):
        read_tntp_network(directory)


def test_demand_zero_everywhere_is_refused_by_every_charging_problem() -> None:
    network = nguyen_dupuis()
    stations = (ChargingStation("cs6", 6, 30.0, 0.5, 0.5, np.full(2, 100.0)),)
    charging = ChargingNetworkSpec(network, stations)
    zero = np.zeros((2, network.od_demand.size))
    with pytest.raises(InvalidInputError, match=r"multi-period problem: the demand of "
                                                r"NguyenDupuis .* is zero for every OD pair and "
                                                r"period: there is nothing to assign"):
        MultiPeriodSpec(charging, zero, zero)
    with pytest.raises(InvalidInputError, match=r"per-period SUE: the demand of NguyenDupuis"):
        SuePeriodsSpec(charging, zero, zero)
    with pytest.raises(InvalidInputError, match=r"charging problem: the demand of NguyenDupuis "
                                                r".* is zero for every OD pair: there is nothing"):
        build_charging_problem(charging, zero[0], zero[0])
    # one quiet period among busy ones is a day, not an error
    busy = zero.copy()
    busy[1] = network.od_demand
    assert MultiPeriodSpec(charging, busy, 0.1 * busy).num_periods == 2


def test_without_first_thru_node_zones_may_be_passed_through(tmp_path: Path) -> None:
    """Zone 2 lies on the only route 1->3; without <FIRST THRU NODE> (TNTP's default 1) the
    route is allowed and carries the whole demand."""
    rows = ["\t1\t2\t100\t1\t1\t0.15\t4\t0\t0\t1\t;", "\t2\t3\t100\t1\t1\t0.15\t4\t0\t0\t1\t;"]
    directory = write(tmp_path / "through", rows=rows)
    net = directory / "X_net.tntp"
    net.write_text(net.read_text().replace("<NUMBER OF ZONES> 2", "<NUMBER OF ZONES> 3")
                   .replace("<NUMBER OF NODES> 4", "<NUMBER OF NODES> 3"))
    (directory / "X_trips.tntp").write_text(TRIPS.format(o=1, d=3).replace("ZONES> 2",
                                                                           "ZONES> 3"))
    network = read_tntp_network(directory)
    assert network.first_thru_node == 1 and not network.no_through_nodes().any()
    flow = solve_user_equilibrium(problem_from_network(network), gap=1e-10).link_flow
    np.testing.assert_allclose(flow, [250.0, 250.0])


def test_a_named_net_file_picks_its_own_trips_among_several(tmp_path: Path) -> None:
    directory = write(tmp_path / "pair")
    write(directory, "Y_net.tntp", "Y_trips.tntp")
    (directory / "Y_trips.tntp").write_text(TRIPS.format(o=1, d=2).replace("250.0", "90.0"))
    assert read_tntp_network(directory / "Y_net.tntp").total_demand == 90.0
    assert read_tntp_network(directory / "X_net.tntp").total_demand == 250.0
    with pytest.raises(InvalidInputError, match=r"several net files"):
        read_tntp_network(directory)
