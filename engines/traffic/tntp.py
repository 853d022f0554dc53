"""Reader for the TNTP file format of the Transportation Networks for Research collection.

A TNTP network directory holds ``<name>_net.tntp`` (links), ``<name>_trips.tntp`` (OD matrix),
optionally ``<name>_node.tntp`` (coordinates) and ``<name>_flow.tntp`` (best-known link flows).
Format: https://github.com/bstabler/TransportationNetworks (README, "Data format").

Generalized-cost weights come from the ``<TOLL FACTOR>`` / ``<DISTANCE FACTOR>`` metadata when the
net file has them, else from the "Generalized Cost Weights" section of the directory's README.md
(where the collection states them, e.g. Chicago Sketch's 0.04 min/mile), else zero; an explicit
argument overrides both. Every malformed line is reported with its file and line number.

What the collection's files do beyond the README's format, and how they are read (docs/traffic.md,
"Networks and their conventions"): file names in other cases or as ``*_network_*.tntp``; parallel
links (kept, in file order); node labels that are not ``1..N`` (kept, zones named by label); an
empty field (refused naming file, line and field) and ``inf`` values (refused as non-finite).
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


#: file-name patterns of each kind of TNTP file, matched case-insensitively against the whole
#: name: ``<name>_net.tntp`` and the collection's variants (``Birmingham_Net.tntp``,
#: ``Goldcoast_network_2016_01.tntp``, ``X_Trips.tntp``, ``Birmingham_Nodes.tntp``)
TNTP_FILE_PATTERNS = {
    "net": re.compile(r".*[_-](net|network)([_-][^.]*)?\.tntp", re.I),
    "trips": re.compile(r".*[_-]trips?([_-][^.]*)?\.tntp", re.I),
    "node": re.compile(r".*[_-]nodes?([_-][^.]*)?\.tntp", re.I),
    "flow": re.compile(r".*[_-]flows?([_-][^.]*)?\.tntp", re.I),
}


def find_tntp_files(directory: Path, net_file: Path | None = None) -> dict[str, Path]:
    """Map ``net``, ``trips`` and, where present, ``node`` and ``flow`` to their files.

    Names match :data:`TNTP_FILE_PATTERNS` case-insensitively; two candidates of one kind are
    refused (naming both) rather than guessed between, except that with ``net_file`` (the user
    named the net file) candidates sharing its name's prefix are preferred. A directory without
    a trips file is refused saying so: a network without demand has nothing to assign.
    """
    if not directory.is_dir():
        raise InvalidInputError(f"{directory}: not a directory")
    names = sorted(path for path in directory.iterdir() if path.is_file())
    found: dict[str, Path] = {} if net_file is None else {"net": net_file}
    prefix = None if net_file is None else \
        re.split(r"[_-](?:net|network)", net_file.name, maxsplit=1, flags=re.I)[0].lower()
    for kind, pattern in TNTP_FILE_PATTERNS.items():
        if kind in found:
            continue
        matches = [path for path in names if pattern.fullmatch(path.name)]
        if len(matches) > 1 and prefix is not None:
            matches = [path for path in matches if path.name.lower().startswith(prefix)]
        if len(matches) > 1:
            listed = ", ".join(match.name for match in matches)
            raise InvalidInputError(f"{directory}: several {kind} files ({listed}); pass the "
                                    "*_net.tntp file itself or keep one per directory")
        if matches:
            found[kind] = matches[0]
    if "net" not in found:
        raise InvalidInputError(f"{directory}: no network file (*_net.tntp)")
    if "trips" not in found:
        raise InvalidInputError(
            f"{directory}: no trips file (*_trips.tntp) next to {found['net'].name}: the network "
            "has no demand to assign")
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


_NET_FIELD_NAMES = ("init_node", "term_node", "capacity", "length", "free_flow_time", "b",
                    "power", "speed", "toll", "link_type")


def _link_fields(path: Path, number: int, line: str) -> list[str]:
    """The ten fields of a link line; an empty tab-separated field or a short line is refused
    naming the field (TNTP has no default for a missing value)."""
    fields = line.rstrip(";").replace(";", " ").split()
    if len(fields) >= _NET_COLUMNS:
        return fields
    by_tab = [field.strip() for field in line.rstrip().rstrip(";").strip("\t ").split("\t")]
    if len(by_tab) >= _NET_COLUMNS:
        empty = next((i for i in range(_NET_COLUMNS) if not by_tab[i]), None)
        if empty is not None:
            raise InvalidInputError(
                f"{path}:{number}: field {empty + 1} ({_NET_FIELD_NAMES[empty]}) is empty")
    raise InvalidInputError(
        f"{path}:{number}: malformed link line, expected {_NET_COLUMNS} fields "
        f"(init term capacity length fftt b power speed toll type), got {len(fields)}"
    )


def _read_links(path: Path) -> tuple[dict[str, str], np.ndarray, list[int]]:
    metadata, body = _split_metadata(path)
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    for number, line in body:
        fields = _link_fields(path, number, line)
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


def read_tntp_trips(
    path: Path, num_zones: int, node_labels: set[int] | None
) -> tuple[IntArray, IntArray, FloatArray]:
    """OD entries as (origin label, destination label, demand). Zones are ``1..num_zones``
    (TNTP's convention) unless ``node_labels`` is given: a network whose nodes are not numbered
    ``1..N`` (e.g. Munich) names its zones by node label, and any node may then be a zone."""
    metadata, body = _split_metadata(path)
    fast = _parse_trips_vectorized(body, num_zones, node_labels)
    if fast is not None:
        _check_total_flow(path, _metadata_float(metadata, "TOTAL OD FLOW", path),
                          float(fast[2].sum()))
        return fast

    def unknown(zone: int) -> str | None:
        if node_labels is None:
            return None if 1 <= zone <= num_zones else f"(zones are 1..{num_zones})"
        return None if zone in node_labels else "(no node of the network has that label)"

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
            reason = unknown(origin)
            if reason is not None:
                raise InvalidInputError(f"{path}:{number}: unknown origin zone {origin} {reason}")
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
            reason = unknown(destination)
            if reason is not None:
                raise InvalidInputError(
                    f"{path}:{number}: unknown destination zone {destination} {reason}")
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


def _parse_trips_vectorized(
    body: list[tuple[int, str]], num_zones: int, node_labels: set[int] | None
) -> tuple[IntArray, IntArray, FloatArray] | None:
    """The same arrays as the line-by-line reader, parsed per origin block by numpy (3-6x
    faster on city networks: Chicago Sketch's 142,000 entries), or None when anything looks off;
    the line-by-line reader then runs and names the bad line."""
    origins: list[int] = []
    blocks: list[list[str]] = []
    for _, line in body:
        if line[:6].lower() == "origin":
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                return None
            origins.append(int(parts[1]))
            blocks.append([])
        elif not blocks:
            return None
        else:
            blocks[-1].append(line)
    if not origins:
        return None
    labels = (np.arange(1, num_zones + 1, dtype=np.float64) if node_labels is None
              else np.fromiter(node_labels, dtype=np.float64))
    tokens: list[str] = []
    counts = np.empty(len(blocks), dtype=np.int64)
    for block, lines in enumerate(blocks):
        block_tokens = " ".join(lines).replace(":", " ").replace(";", " ").split()
        if len(block_tokens) % 2:
            return None
        counts[block] = len(block_tokens) // 2
        tokens.extend(block_tokens)
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        return None
    destination, demand = values[0::2], values[1::2]
    origin = np.repeat(np.asarray(origins, dtype=np.int64), counts)
    if (not np.all(np.isin(np.asarray(origins, dtype=np.float64), labels))
            or np.any(destination != np.round(destination))
            or not np.all(np.isin(destination, labels))
            or np.any(~np.isfinite(demand) | (demand < 0))):
        return None
    return origin, destination.astype(np.int64), demand


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
    time_unit: str = "min",
) -> RoadNetwork:
    """Load and validate a TNTP network directory (or its ``*_net.tntp`` file).

    ``time_unit`` is the unit of the file's free-flow times: TNTP's convention is minutes, but
    not every file keeps it (Eastern Massachusetts' look like hours); ``"s"``, ``"min"`` or
    ``"h"``. It sets how the times convert to money with a value of time per hour."""
    location = Path(location)
    directory = location.parent if location.is_file() else location
    files = find_tntp_files(directory, location if location.is_file() else None)
    net_path = files["net"]
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
    if num_zones is None:
        raise InvalidInputError(f"{net_path}: metadata <NUMBER OF ZONES> is missing")
    node_ids, standard = _node_labels(net_path, endpoints, line_numbers, declared_nodes)
    if standard and num_zones > node_ids.size:
        raise InvalidInputError(
            f"{net_path}: metadata declares {num_zones} zones but only {node_ids.size} nodes")

    trip_origins, trip_destinations, demands = read_tntp_trips(
        files["trips"], num_zones, None if standard else {int(v) for v in node_ids})
    origins = np.searchsorted(node_ids, trip_origins)
    destinations = np.searchsorted(node_ids, trip_destinations)
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
        link_tail=np.searchsorted(node_ids, links[:, 0].astype(np.int64)),
        link_head=np.searchsorted(node_ids, links[:, 1].astype(np.int64)),
        capacity=links[:, 2].copy(),
        length=links[:, 3].copy(),
        free_flow_time=links[:, 4].copy(),
        b=links[:, 5].copy(),
        power=links[:, 6].copy(),
        toll=links[:, 8].copy(),
        link_type=links[:, 9].astype(np.int64),
        od_origin=origins[keep].astype(np.int64),
        od_destination=destinations[keep].astype(np.int64),
        od_demand=demands[keep],
        toll_factor=first_given(toll_factor, meta_toll, readme_toll),
        distance_factor=first_given(distance_factor, meta_distance, readme_distance),
        time_unit=time_unit.strip().lower(),
        source=str(net_path),
        intrazonal_demand=float(demands[intrazonal].sum()),
        node_x=node_x,
        node_y=node_y,
        link_line=np.asarray(line_numbers, dtype=np.int64),
    )
    if not network.total_demand > 0:
        within = f" (all {network.intrazonal_demand:g} veh/h of it within zones)" \
            if network.intrazonal_demand > 0 else ""
        raise InvalidInputError(f"{files['trips']}: no trips between zones{within}: there is "
                                "nothing to assign")
    validate_network(network)
    return network


def _node_labels(
    path: Path, endpoints: np.ndarray, line_numbers: list[int], declared: int | None
) -> tuple[IntArray, bool]:
    """The network's node labels, and whether they are TNTP's standard ``1..N``.

    Standard when every label lies in ``1..<NUMBER OF NODES>`` (isolated nodes kept). Otherwise
    (e.g. Munich: 742 nodes labelled up to 2,146,237,932) the labels are the distinct link
    endpoints, refused when there are more of them than the file declares nodes.
    """
    labels = np.unique(endpoints).astype(np.int64)
    top = declared if declared is not None else int(labels.max())
    if labels.min() >= 1 and labels.max() <= top:
        return np.arange(1, top + 1, dtype=np.int64), True
    if declared is None or labels.size <= declared:
        return labels, False
    row = int(np.flatnonzero(np.any((endpoints < 1) | (endpoints > declared), axis=1))[0])
    bad_node = next(int(v) for v in endpoints[row] if not 1 <= v <= declared)
    raise InvalidInputError(
        f"{path}:{line_numbers[row]}: unknown node {bad_node} (the network declares nodes "
        f"1..{declared}, and its links use {labels.size} distinct labels)"
    )


def read_tntp_flows(path: str | Path, network: RoadNetwork) -> TntpFlows:
    """Read a ``*_flow.tntp`` file and align its rows to ``network``'s links."""
    path = Path(path)
    _, body = _split_metadata(path)
    index: dict[tuple[int, int], list[int]] = {}
    for link, (tail, head) in enumerate(zip(network.link_tail, network.link_head, strict=True)):
        index.setdefault((int(tail), int(head)), []).append(link)
    seen: dict[tuple[int, int], int] = {}
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
        occurrence = seen.get(key, 0)
        if occurrence >= len(index.get(key, ())):
            more = " (more rows than parallel links)" if occurrence else ""
            raise InvalidInputError(
                f"{path}:{number}: link {fields[0]}->{fields[1]} is not in the network{more}"
            )
        seen[key] = occurrence + 1
        link = index[key][occurrence]  # the k-th row of a tail->head pair is its k-th link
        volume[link] = float(fields[2])
        cost[link] = float(fields[3])
    missing = np.flatnonzero(np.isnan(volume))
    if missing.size:
        raise InvalidInputError(f"{path}: no flow for link {network.link_label(int(missing[0]))}")
    return TntpFlows(volume=volume, cost=cost)
