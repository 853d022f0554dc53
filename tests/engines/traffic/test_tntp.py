"""TNTP reading and validation: real files load, and every bad input names its culprit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.builtin import load_network, nguyen_dupuis
from ptn.engines.traffic.tntp import read_tntp_flows, read_tntp_network

HEADER = """<NUMBER OF ZONES> {zones}
<NUMBER OF NODES> {nodes}
<FIRST THRU NODE> 1
<NUMBER OF LINKS> {links}
<END OF METADATA>

~ init term capacity length fftt b power speed toll type ;
"""

GOOD_LINKS = [
    "1 3 100 1 5 0.15 4 0 0 1 ;",
    "3 2 100 1 5 0.15 4 0 0 1 ;",
    "1 2 100 1 20 0 0 0 0 1 ;",
]
GOOD_TRIPS = """<NUMBER OF ZONES> 2
<END OF METADATA>

Origin 1
    2 : 50.0;
"""


def write_network(
    directory: Path, links: list[str], trips: str = GOOD_TRIPS, zones: int = 2, nodes: int = 3
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = HEADER.format(zones=zones, nodes=nodes, links=len(links)) + "\n".join(links) + "\n"
    (directory / "Tiny_net.tntp").write_text(body)
    (directory / "Tiny_trips.tntp").write_text(trips)
    return directory


def test_sioux_falls_dimensions(tntp_directory: Callable[[str], Path]) -> None:
    network = read_tntp_network(tntp_directory("SiouxFalls"))
    assert (network.num_nodes, network.num_links, network.num_zones) == (24, 76, 24)
    assert network.total_demand == pytest.approx(360600.0)  # <TOTAL OD FLOW> in the trips file
    assert network.node_x is not None and np.isfinite(network.node_x).all()


def test_chicago_generalized_cost_weights_come_from_its_readme(
    tntp_directory: Callable[[str], Path],
) -> None:
    network = read_tntp_network(tntp_directory("ChicagoSketch"))
    assert network.distance_factor == pytest.approx(0.04)
    assert network.toll_factor == pytest.approx(0.02)
    assert network.total_demand + network.intrazonal_demand == pytest.approx(1260907.44, rel=1e-9)
    overridden = read_tntp_network(tntp_directory("ChicagoSketch"), distance_factor=0.0)
    assert overridden.distance_factor == 0.0


def test_flow_file_aligns_with_links(tntp_directory: Callable[[str], Path]) -> None:
    directory = tntp_directory("SiouxFalls")
    network = read_tntp_network(directory)
    flows = read_tntp_flows(directory / "SiouxFalls_flow.tntp", network)
    assert flows.volume[0] == pytest.approx(4494.6576464564205)  # first row of the file: 1->2


def test_nguyen_dupuis_is_the_literature_network() -> None:
    network = nguyen_dupuis()
    assert (network.num_nodes, network.num_links) == (13, 19)
    pairs = {
        (int(network.node_ids[o]), int(network.node_ids[d])): q
        for o, d, q in zip(
            network.od_origin, network.od_destination, network.od_demand, strict=True
        )
    }
    assert pairs == {(1, 2): 400.0, (1, 3): 800.0, (4, 2): 600.0, (4, 3): 200.0}
    assert network.free_flow_time[list(map(network.link_label, range(19))).index("6->10")] == 13.0


def test_twelve_node_grid_is_the_documented_two_way_grid() -> None:
    from ptn.engines.traffic.builtin import load_network

    network = load_network("twelve-node")
    assert (network.num_nodes, network.num_links) == (12, 34)
    labels = [network.link_label(a) for a in range(network.num_links)]
    time = dict(zip(labels, network.free_flow_time.tolist(), strict=True))
    capacity = dict(zip(labels, network.capacity.tolist(), strict=True))
    for label in labels:  # every street is two-way with the same time and capacity
        tail, head = label.split("->")
        assert time[f"{head}->{tail}"] == time[label]
        assert capacity[f"{head}->{tail}"] == capacity[label]
    # the README's picture: the central arterial 6->7 takes 3 min at 1500 veh/h, 1->5 6 min
    assert (time["6->7"], capacity["6->7"], time["1->5"], capacity["1->5"]) == (3, 1500, 6, 700)
    assert float(network.od_demand.sum()) == 900.0


def test_constant_cost_link_with_zero_power_and_capacity_is_accepted(tmp_path: Path) -> None:
    links = [*GOOD_LINKS[:2], "1 2 0 1 20 0.15 0 0 0 1 ;"]
    network = read_tntp_network(write_network(tmp_path / "net", links))
    assert not network.is_flow_dependent()[2]


def test_intrazonal_trips_are_set_aside(tmp_path: Path) -> None:
    trips = GOOD_TRIPS.replace("2 : 50.0;", "1 : 7.0;  2 : 50.0;")
    network = read_tntp_network(write_network(tmp_path / "net", GOOD_LINKS, trips))
    assert network.intrazonal_demand == 7.0
    assert network.od_demand.tolist() == [50.0]


@pytest.mark.parametrize(
    ("links", "trips", "message"),
    [
        ([GOOD_LINKS[0], "3 2 100 1 5 0.15 4 ;", GOOD_LINKS[2]], GOOD_TRIPS,
         r"Tiny_net\.tntp:9: malformed link line"),
        ([GOOD_LINKS[0], "3 2 100 1 five 0.15 4 0 0 1 ;", GOOD_LINKS[2]], GOOD_TRIPS,
         r"Tiny_net\.tntp:9: malformed link line"),
        ([GOOD_LINKS[0], "3 7 100 1 5 0.15 4 0 0 1 ;", GOOD_LINKS[2]], GOOD_TRIPS,
         r"Tiny_net\.tntp:9: unknown node 7"),
        ([*GOOD_LINKS, "1 3 100 1 -5 0.15 4 0 0 1 ;"], GOOD_TRIPS,
         r"Tiny_net\.tntp:11: .*link 1->3 \(line 11\) has negative free-flow time -5"),
        ([GOOD_LINKS[0], "3 2 0 1 5 0.15 4 0 0 1 ;", GOOD_LINKS[2]], GOOD_TRIPS,
         r"Tiny_net\.tntp:9: .*link 3->2 has non-positive capacity 0 but a flow-dependent cost"),
        ([GOOD_LINKS[0], "3 2 100 1 -5 0.15 4 0 0 1 ;", GOOD_LINKS[2]], GOOD_TRIPS,
         r"Tiny_net\.tntp:9: .*link 3->2 has negative free-flow time -5"),
        (["1 3 100 1 5 0.15 4 0 0 1 ;", "2 3 100 1 5 0.15 4 0 0 1 ;"], GOOD_TRIPS,
         r"OD pair 1->2 has demand 50 but no path"),
        (GOOD_LINKS, GOOD_TRIPS.replace("2 : 50.0;", "5 : 50.0;"),
         r"Tiny_trips\.tntp:5: unknown destination zone 5"),
        (GOOD_LINKS, GOOD_TRIPS.replace("2 : 50.0;", "2 = 50.0;"),
         r"Tiny_trips\.tntp:5: malformed demand entry"),
        (GOOD_LINKS, GOOD_TRIPS.replace("Origin 1", "Origin 9"),
         r"Tiny_trips\.tntp:4: unknown origin zone 9"),
    ],
    ids=["short-line", "non-numeric", "unknown-node", "bad-parallel-link", "zero-capacity",
         "negative-time", "no-path", "unknown-zone", "malformed-trip", "unknown-origin"],
)
def test_invalid_input_names_the_item(
    tmp_path: Path, links: list[str], trips: str, message: str
) -> None:
    directory = write_network(tmp_path / "net", links, trips)
    with pytest.raises(InvalidInputError, match=message):
        read_tntp_network(directory)


def test_zone_nodes_are_not_passed_through(tmp_path: Path) -> None:
    """With FIRST THRU NODE 3, zone 2 cannot be an intermediate node of 1's paths to 3."""
    links = ["1 2 100 1 1 0.15 4 0 0 1 ;", "2 3 100 1 1 0.15 4 0 0 1 ;"]
    trips = "<NUMBER OF ZONES> 3\n<END OF METADATA>\nOrigin 1\n 3 : 10.0;\n"
    directory = write_network(tmp_path / "net", links, trips, zones=3)
    net_file = directory / "Tiny_net.tntp"
    net_file.write_text(net_file.read_text().replace("<FIRST THRU NODE> 1", "<FIRST THRU NODE> 3"))
    with pytest.raises(InvalidInputError, match="OD pair 1->3 has demand 10 but no path"):
        read_tntp_network(directory)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"no network file \(\*_net\.tntp\)"):
        read_tntp_network(tmp_path)
    with pytest.raises(InvalidInputError, match="no such file or directory"):
        load_network(tmp_path / "absent")


def test_a_trips_file_cut_short_is_refused(tmp_path: Path,
                                           tntp_directory: Callable[[str], Path]) -> None:
    """A copy of Sioux Falls whose trips file lost its last two thirds: its own header says
    360,600 veh/h; what is left sums to less, and the file is named."""
    source = tntp_directory("SiouxFalls")
    copy = tmp_path / "SiouxFalls"
    copy.mkdir()
    for path in source.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    trips = copy / "SiouxFalls_trips.tntp"
    lines = trips.read_text().splitlines(keepends=True)
    trips.write_text("".join(lines[: len(lines) // 3]))
    with pytest.raises(InvalidInputError, match=r"SiouxFalls_trips\.tntp: the trips sum to "
                                                r"[0-9,.]+ but the file's <TOTAL OD FLOW> is "
                                                r"360,600"):
        read_tntp_network(copy)


def test_a_total_header_within_rounding_is_accepted(tmp_path: Path) -> None:
    trips = GOOD_TRIPS.replace("<END OF METADATA>", "<TOTAL OD FLOW> 50.00001\n<END OF METADATA>")
    network = read_tntp_network(write_network(tmp_path / "tiny", GOOD_LINKS, trips))
    assert network.total_demand == pytest.approx(50.0)
