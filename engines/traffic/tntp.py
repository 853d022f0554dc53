"""Reader for the TNTP file format of the Transportation Networks for Research collection.

A TNTP network directory holds ``<name>_net.tntp`` (links), ``<name>_trips.tntp`` (OD matrix),
optionally ``<name>_node.tntp`` (coordinates) and ``<name>_flow.tntp`` (best-known link flows).
Format: https://github.com/bstabler/TransportationNetworks (README, "Data format").

Generalized-cost weights come from the ``<TOLL FACTOR>`` / ``<DISTANCE FACTOR>`` metadata when the
net file has them, else from the "Generalized Cost Weights" section of the directory's README.md
(where the collection states them, e.g. Chicago Sketch's 0.04 min/mile), else zero; an explicit
argument overrides both. Every malformed line is reported with its file and line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.network import FloatArray, IntArray, RoadNetwork, validate_network

_METADATA = re.compile(r"^\s*<([^>]+)>\s*(.*?)\s*$")
_TRIP_ENTRY = re.compile(r"^\s*(\d+)\s*:\s*([^;\s]+)\s*$")
_NET_COLUMNS = 10  # init term capacity length fftt b power speed toll type


@dataclass(frozen=True)
class TntpFlows:
    """A ``*_flow.tntp`` solution: link flows and costs, aligned to a network's links."""

    volume: FloatArray
    cost: FloatArray


def find_tntp_files(directory: Path) -> dict[str, Path]:
    """Map ``net``, ``trips`` and, where present, ``node`` and ``flow`` to their files."""
    if not directory.is_dir():
        raise InvalidInputError(f"{directory}: not a directory")
    found: dict[str, Path] = {}
    for kind in ("net", "trips", "node", "flow"):
        matches = sorted(directory.glob(f"*_{kind}.tntp"))
        if len(matches) > 1:
            names = ", ".join(match.name for match in matches)
            raise InvalidInputError(f"{directory}: several *_{kind}.tntp files ({names})")
        if matches:
            found[kind] = matches[0]
    for required in ("net", "trips"):
        if required not in found:
            raise InvalidInputError(f"{directory}: no *_{required}.tntp file")
    return found


def _split_metadata(path: Path) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Return the ``<KEY> value`` metadata and the numbered body lines after it."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read ({error.strerror})") from error
    metadata: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    in_metadata = True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("~", 1)[0].strip()
        if not line:
            continue
        if in_metadata:
            match = _METADATA.match(line)
            if match:
                key = match.group(1).strip().upper()
                if key == "END OF METADATA":
                    in_metadata = False
                else:
                    metadata[key] = match.group(2)
                continue
            in_metadata = False
        body.append((number, line))
    return metadata, body


def _metadata_int(metadata: dict[str, str], key: str, path: Path) -> int | None:
    if key not in metadata:
        return None
    try:
        return int(float(metadata[key]))
    except ValueError as error:
        raise InvalidInputError(
            f"{path}: metadata <{key}> is not a number: {metadata[key]!r}"
        ) from error


def _metadata_float(metadata: dict[str, str], key: str, path: Path) -> float | None:
    if key not in metadata:
        return None
    try:
        return float(metadata[key])
    except ValueError as error:
        raise InvalidInputError(
            f"{path}: metadata <{key}> is not a number: {metadata[key]!r}"
        ) from error


def _readme_cost_weights(directory: Path) -> tuple[float | None, float | None]:
    """Toll and distance weights from a TNTP README's "Generalized Cost Weights" section."""
    readme = directory / "README.md"
    if not readme.is_file():
        return None, None
    text = readme.read_text(encoding="utf-8", errors="replace")
    section = re.search(r"#+\s*Generalized Cost Weights(.*?)(?:\n#|\Z)", text, re.S | re.I)
    if section is None:
        return None, None

    def weight(label: str) -> float | None:
        match = re.search(rf"^\s*{label}\s*:\s*([-+0-9.eE]+)", section.group(1), re.M | re.I)
        return float(match.group(1)) if match else None

    return weight("Toll"), weight("Distance")


def _read_links(path: Path) -> tuple[dict[str, str], np.ndarray, list[int]]:
    metadata, body = _split_metadata(path)
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    for number, line in body:
        fields = line.rstrip(";").replace(";", " ").split()
        if len(fields) < _NET_COLUMNS:
            raise InvalidInputError(
                f"{path}:{number}: malformed link line, expected {_NET_COLUMNS} fields "
                f"(init term capacity length fftt b power speed toll type), got {len(fields)}"
            )
        try:
            rows.append([float(value) for value in fields[:_NET_COLUMNS]])
        except ValueError as error:
            raise InvalidInputError(f"{path}:{number}: malformed link line ({error})") from error
        line_numbers.append(number)
    if not rows:
        raise InvalidInputError(f"{path}: no links")
    return metadata, np.asarray(rows, dtype=np.float64), line_numbers


#: how far the trips may sum from the file's ``<TOTAL OD FLOW>`` (relative; headers are
#: written with rounded totals, e.g. ChicagoSketch's 1260907.4400005303 for 1260907.44)
TOTAL_FLOW_TOLERANCE = 1e-3


def _read_trips(path: Path, num_zones: int) -> tuple[IntArray, IntArray, FloatArray]:
    metadata, body = _split_metadata(path)
    origins: list[int] = []
    destinations: list[int] = []
    demands: list[float] = []
    origin: int | None = None
    for number, line in body:
        if line.lower().startswith("origin"):
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise InvalidInputError(f"{path}:{number}: malformed origin line {line!r}")
            origin = int(parts[1])
            if not 1 <= origin <= num_zones:
                raise InvalidInputError(
                    f"{path}:{number}: unknown origin zone {origin} (zones are 1..{num_zones})"
                )
            continue
        if origin is None:
            raise InvalidInputError(f"{path}:{number}: demand entry before any 'Origin' line")
        for entry in line.split(";"):
            if not entry.strip():
                continue
            match = _TRIP_ENTRY.match(entry)
            if match is None:
                raise InvalidInputError(
                    f"{path}:{number}: malformed demand entry {entry.strip()!r}"
                )
            destination = int(match.group(1))
            try:
                demand = float(match.group(2))
            except ValueError as error:
                raise InvalidInputError(
                    f"{path}:{number}: demand to zone {destination} is not a number"
                ) from error
            if not 1 <= destination <= num_zones:
                raise InvalidInputError(
                    f"{path}:{number}: unknown destination zone {destination} "
                    f"(zones are 1..{num_zones})"
                )
            if demand < 0 or not np.isfinite(demand):
                raise InvalidInputError(
                    f"{path}:{number}: invalid demand {demand:g} for {origin}->{destination}"
                )
            origins.append(origin)
            destinations.append(destination)
            demands.append(demand)
    _check_total_flow(path, _metadata_float(metadata, "TOTAL OD FLOW", path), sum(demands))
    return (
        np.asarray(origins, dtype=np.int64),
        np.asarray(destinations, dtype=np.int64),
        np.asarray(demands, dtype=np.float64),
    )


def _check_total_flow(path: Path, declared: float | None, total: float) -> None:
    """Refuse a trips file whose entries do not add up to its ``<TOTAL OD FLOW>`` header (a
    file cut short in a copy is otherwise served silently with a fraction of its demand)."""
    if declared is None:
        return
    if abs(total - declared) > TOTAL_FLOW_TOLERANCE * max(abs(declared), 1.0):
        raise InvalidInputError(
            f"{path}: the trips sum to {total:,.6g} but the file's <TOTAL OD FLOW> is "
            f"{declared:,.6g} (a truncated or edited file? fix the file or its header)")


def _read_nodes(path: Path, node_ids: IntArray) -> tuple[FloatArray, FloatArray]:
    _, body = _split_metadata(path)
    x = np.full(node_ids.size, np.nan)
    y = np.full(node_ids.size, np.nan)
    for number, line in body:
        fields = line.replace(";", " ").split()
        if not fields or not fields[0].lstrip("-").isdigit():
            continue  # header line such as "Node X Y ;"
        if len(fields) < 3:
            raise InvalidInputError(f"{path}:{number}: malformed node line, expected 'node x y'")
        position = int(np.searchsorted(node_ids, int(fields[0])))
        if position >= node_ids.size or node_ids[position] != int(fields[0]):
            raise InvalidInputError(f"{path}:{number}: unknown node {fields[0]}")
        try:
            x[position], y[position] = float(fields[1]), float(fields[2])
        except ValueError as error:
            raise InvalidInputError(f"{path}:{number}: malformed node line ({error})") from error
    return x, y


def read_tntp_network(
    location: str | Path,
    *,
    toll_factor: float | None = None,
    distance_factor: float | None = None,
) -> RoadNetwork:
    """Load and validate a TNTP network directory (or its ``*_net.tntp`` file)."""
    location = Path(location)
    directory = location.parent if location.is_file() else location
    files = find_tntp_files(directory)
    net_path = location if location.is_file() else files["net"]
    metadata, links, line_numbers = _read_links(net_path)

    declared_nodes = _metadata_int(metadata, "NUMBER OF NODES", net_path)
    declared_links = _metadata_int(metadata, "NUMBER OF LINKS", net_path)
    num_zones = _metadata_int(metadata, "NUMBER OF ZONES", net_path)
    first_thru = _metadata_int(metadata, "FIRST THRU NODE", net_path) or 1
    if declared_links is not None and declared_links != links.shape[0]:
        raise InvalidInputError(
            f"{net_path}: metadata declares {declared_links} links "
            f"but the file has {links.shape[0]}"
        )
    endpoints = links[:, :2]
    if np.any(endpoints != np.round(endpoints)):
        row = int(np.flatnonzero(np.any(endpoints != np.round(endpoints), axis=1))[0])
        raise InvalidInputError(f"{net_path}:{line_numbers[row]}: node labels must be integers")
    max_label = declared_nodes if declared_nodes is not None else int(endpoints.max())
    bad_rows = np.flatnonzero(np.any((endpoints < 1) | (endpoints > max_label), axis=1))
    if bad_rows.size:
        row = int(bad_rows[0])
        bad_node = next(int(v) for v in endpoints[row] if not 1 <= v <= max_label)
        raise InvalidInputError(
            f"{net_path}:{line_numbers[row]}: unknown node {bad_node} "
            f"(the network declares nodes 1..{max_label})"
        )
    node_ids = np.arange(1, max_label + 1, dtype=np.int64)
    if num_zones is None:
        raise InvalidInputError(f"{net_path}: metadata <NUMBER OF ZONES> is missing")

    origins, destinations, demands = _read_trips(files["trips"], num_zones)
    intrazonal = origins == destinations
    keep = ~intrazonal & (demands > 0)

    readme_toll, readme_distance = _readme_cost_weights(directory)
    meta_toll = _metadata_float(metadata, "TOLL FACTOR", net_path)
    meta_distance = _metadata_float(metadata, "DISTANCE FACTOR", net_path)

    def first_given(*values: float | None) -> float:
        return next((value for value in values if value is not None), 0.0)

    node_x: FloatArray | None = None
    node_y: FloatArray | None = None
    if "node" in files:
        node_x, node_y = _read_nodes(files["node"], node_ids)

    network = RoadNetwork(
        name=directory.name,
        node_ids=node_ids,
        num_zones=num_zones,
        first_thru_node=first_thru,
        link_tail=links[:, 0].astype(np.int64) - 1,
        link_head=links[:, 1].astype(np.int64) - 1,
        capacity=links[:, 2].copy(),
        length=links[:, 3].copy(),
        free_flow_time=links[:, 4].copy(),
        b=links[:, 5].copy(),
        power=links[:, 6].copy(),
        toll=links[:, 8].copy(),
        link_type=links[:, 9].astype(np.int64),
        od_origin=origins[keep] - 1,
        od_destination=destinations[keep] - 1,
        od_demand=demands[keep],
        toll_factor=first_given(toll_factor, meta_toll, readme_toll),
        distance_factor=first_given(distance_factor, meta_distance, readme_distance),
        time_unit="min",
        source=str(net_path),
        intrazonal_demand=float(demands[intrazonal].sum()),
        node_x=node_x,
        node_y=node_y,
    )
    if not network.total_demand > 0:
        within = f" (all {network.intrazonal_demand:g} veh/h of it within zones)" \
            if network.intrazonal_demand > 0 else ""
        raise InvalidInputError(f"{files['trips']}: no trips between zones{within}: there is "
                                "nothing to assign")
    try:
        validate_network(network)
    except InvalidInputError as error:
        raise InvalidInputError(_with_line(str(error), network, net_path, line_numbers)) from None
    return network


def _with_line(message: str, network: RoadNetwork, path: Path, line_numbers: list[int]) -> str:
    """Point a link-level validation message at the net file's line for that link."""
    match = re.search(r"link (\d+)->(\d+)", message)
    if match is None:
        return message
    tail, head = int(match.group(1)) - 1, int(match.group(2)) - 1
    rows = np.flatnonzero((network.link_tail == tail) & (network.link_head == head))
    if rows.size == 0:
        return message
    lines = ", ".join(str(line_numbers[int(row)]) for row in rows[:2])
    return f"{path}:{lines}: {message}"


def read_tntp_flows(path: str | Path, network: RoadNetwork) -> TntpFlows:
    """Read a ``*_flow.tntp`` file and align its rows to ``network``'s links."""
    path = Path(path)
    _, body = _split_metadata(path)
    index = {
        (int(tail), int(head)): link
        for link, (tail, head) in enumerate(zip(network.link_tail, network.link_head, strict=True))
    }
    volume = np.full(network.num_links, np.nan)
    cost = np.full(network.num_links, np.nan)
    for number, line in body:
        fields = line.replace(";", " ").split()
        if not fields or not fields[0].isdigit():
            continue  # header "From To Volume Cost"
        if len(fields) < 4:
            raise InvalidInputError(
                f"{path}:{number}: malformed flow line, expected 'from to volume cost'"
            )
        key = (network.node_index(int(fields[0])), network.node_index(int(fields[1])))
        if key not in index:
            raise InvalidInputError(
                f"{path}:{number}: link {fields[0]}->{fields[1]} is not in the network"
            )
        volume[index[key]] = float(fields[2])
        cost[index[key]] = float(fields[3])
    missing = np.flatnonzero(np.isnan(volume))
    if missing.size:
        raise InvalidInputError(f"{path}: no flow for link {network.link_label(int(missing[0]))}")
    return TntpFlows(volume=volume, cost=cost)
