"""City-scale scenarios: many stations, feeders and CNOs on a TNTP city, written as TOML.

Why this exists: issue 18's city-scale game (Chicago Sketch, ≥ 20 feeders under one DSO, ≥ 50
CNOs owning ≥ 100 stations) and its scaling study (seconds and rounds against road network size,
feeders, stations and periods) need scenarios of any size built by one rule, so that sizes differ
in one dimension at a time. A hand-written file of a hundred station tables would not scale or
stay consistent; this module is that rule, and ``scenarios/chicago-city-{game,admm}.toml`` are
its output at the issue's size (regenerate them with the command below; the files say so).

The rule (every number a stated choice, following ``scenarios/pricing-siouxfalls.toml``):

* **stations** at thru nodes that are not zones where the network has them (Chicago Sketch's
  zones 1–387 are centroids) within the city's core (the 60 % of nodes nearest the centre),
  spread over it by farthest-point sampling of the TNTP node coordinates (deterministic: it
  starts at the node nearest the centre; a small network without enough such nodes takes its
  core's zones, then any node); 40
  charging EVs per hour each (20 bays of 90 kW, 30 min per charge), Davidson J 0.5;
* **feeders**: copies of MATPOWER's case33bw, one per part of the city: each feeder's centre is
  a farthest-point sample of the stations, and stations join the nearest centre with room left
  (nearest pairs first), so every feeder has ``stations / feeders`` stations (± 1); a station
  sits at one of the buses near the substation used by the Sioux Falls game (2–6, 19–26), no
  two at one bus; one 1 MW micro-turbine per feeder at bus 18;
* **CNOs**: stations ordered by feeder are dealt out to the CNOs in turn, so each CNO's
  stations lie on different feeders and in different parts of the city (competition with
  neighbours of other CNOs, as in the Sioux Falls game);
* **demand**: the TNTP trips (Chicago Sketch: 1.26 M veh/h, its morning peak) over four 6-hour
  blocks scaled [0.35, 0.9, 1.0, 0.65]; the EV share is set so that about 11 EVs per hour
  charge at each station at the base price (≈ 0.5 MW per station, ≈ 2.5 MW of charging on a
  3.7 MW feeder at 5 stations per feeder); the feeders' own load per block [0.55, 0.8, 0.85,
  0.9] of case33bw's (at the Sioux Falls game's [0.6, 0.85, 0.95, 1.0] the uncoordinated
  operation — every station charging at the flat tariff — undervolts three feeders' bus 33 to
  0.895 p.u. in the afternoon, and the baseline is infeasible, leaving nothing to compare with);
* **the game's levers** (measured in docs/benchmarks.md, "City scale"): the CNOs' 0.25 $/MWh
  probes answered by the equilibrium's derivatives (``[traffic] probe_answers = "derivative"``),
  the AEM's last price not probed, a 5 $/MWh trust region halved for a price whose move
  reverses (``trust_region_shrink``: without it the best responses jump between the price
  bounds), and the certificate's verified search (a lower bound on ε: docs/pricing-game.md)
  with its CNO entries at once.

Run: ``python -m bench.city_scenario`` rewrites ``scenarios/chicago-city-game.toml`` and
``scenarios/chicago-city-admm.toml`` (needs ``$PTN_TNTP_DIR``: the coordinates and the trip
total are read from it; the scenarios name ``$PTN_TNTP_DIR/ChicagoSketch``, not a copy).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptn.engines.traffic.tntp import read_tntp_network

REPOSITORY = Path(__file__).resolve().parents[1]

#: buses of case33bw in the order stations take them: near the substation first (main feeder
#: 2–6, laterals from buses 2, 3 and 6), then down the laterals and the main feeder (a feeder
#: holds at most 32 stations, one per non-slack bus)
STATION_BUSES = (3, 19, 23, 6, 26, 2, 20, 24, 4, 22, 5, 25, 21, 27, 7, 28, 8, 29, 9, 30, 10,
                 31, 11, 32, 12, 33, 13, 14, 15, 16, 17, 18)
#: charging EVs per hour per station at the base price (≈ 0.5 MW at 0.045 MWh per charge)
EVS_PER_STATION_PER_H = 11.0
DEMAND_PROFILE = (0.35, 0.9, 1.0, 0.65)
LOAD_PROFILE = (0.55, 0.8, 0.85, 0.9)
UPSTREAM_PRICE_PER_MWH = (45.0, 70.0, 80.0, 90.0)
#: stations stand in the city's core: the nodes nearest the centre of all nodes, this share of
#: them (Chicago Sketch's outer nodes are its external gateways, with little traffic to charge)
CORE_QUANTILE = 0.6


@dataclass(frozen=True)
class CityLayout:
    """Where the stations are, which feeder and bus serve each, which CNO owns each."""

    station_node: tuple[int, ...]
    station_feeder: tuple[int, ...]
    station_bus: tuple[int, ...]
    station_cno: tuple[int, ...]
    ev_share: float
    #: the road network's node count
    nodes: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"cs{node}" for node in self.station_node)


def farthest_points(x: np.ndarray, y: np.ndarray, count: int, start: int) -> list[int]:
    """``count`` indices spread over the points: each the farthest from those chosen."""
    chosen = [start]
    distance = np.hypot(x - x[start], y - y[start])
    for _ in range(count - 1):
        pick = int(np.argmax(distance))
        chosen.append(pick)
        distance = np.minimum(distance, np.hypot(x - x[pick], y - y[pick]))
    return chosen


def balanced_groups(x: np.ndarray, y: np.ndarray, groups: int) -> np.ndarray:
    """Each point's group: centres spread over the points, nearest pairs joined first, each
    group holding ``len(x) // groups`` points (the first ``len(x) % groups`` one more)."""
    count = len(x)
    centres = farthest_points(x, y, groups, start=0)
    room = np.full(groups, count // groups)
    room[: count % groups] += 1
    distance = np.hypot(x[:, None] - x[centres][None, :], y[:, None] - y[centres][None, :])
    group = np.full(count, -1)
    for flat in np.argsort(distance, axis=None, kind="stable"):
        point, centre = divmod(int(flat), groups)
        if group[point] < 0 and room[centre] > 0:
            group[point] = centre
            room[centre] -= 1
    return group


def city_layout(network_dir: Path, *, stations: int, feeders: int, cnos: int) -> CityLayout:
    """The stations, feeders and CNOs of a city scenario on the TNTP network in ``network_dir``."""
    network = read_tntp_network(network_dir)
    if network.node_x is None or network.node_y is None:
        raise ValueError(f"{network_dir}: a city scenario needs the TNTP _node file's coordinates")
    x_all, y_all = network.node_x, network.node_y
    from_centre = np.hypot(x_all - x_all.mean(), y_all - y_all.mean())
    core = from_centre <= np.quantile(from_centre, CORE_QUANTILE)
    not_zone = network.node_ids > network.num_zones
    candidates = np.flatnonzero(core & not_zone)
    for wider in (core, not_zone, np.ones_like(core)):
        if len(candidates) < stations:
            candidates = np.flatnonzero(wider)
    if len(candidates) < stations:
        raise ValueError(f"{network_dir}: {len(candidates)} nodes, fewer than {stations} "
                         "stations")
    x, y = x_all[candidates], y_all[candidates]
    start = int(np.argmin(np.hypot(x - x.mean(), y - y.mean())))
    picked = candidates[farthest_points(x, y, stations, start)]
    feeder = balanced_groups(network.node_x[picked], network.node_y[picked], feeders)
    order = np.lexsort((np.arange(stations), feeder))
    bus = np.zeros(stations, dtype=int)
    cno = np.zeros(stations, dtype=int)
    for rank, index in enumerate(order):
        bus[index] = STATION_BUSES[int(np.sum(feeder[order[:rank]] == feeder[index]))]
        cno[index] = rank % cnos
    ev_share = EVS_PER_STATION_PER_H * stations / network.total_demand
    return CityLayout(tuple(int(network.node_ids[n]) for n in picked), tuple(map(int, feeder)),
                      tuple(map(int, bus)), tuple(map(int, cno)), ev_share, network.num_nodes)


def _series(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def scenario_text(layout: CityLayout, *, name: str, mechanism: str, network: str,
                  feeders: int, periods: int = 4, command: str = "") -> str:
    """The TOML of a city scenario (``mechanism``: ``pricing`` or ``admm``)."""
    names = layout.names
    hours = 24.0 / periods
    demand = np.interp(np.linspace(0, 3, periods), np.arange(4), DEMAND_PROFILE)
    load = np.interp(np.linspace(0, 3, periods), np.arange(4), LOAD_PROFILE)
    upstream = np.interp(np.linspace(0, 3, periods), np.arange(4), UPSTREAM_PRICE_PER_MWH)
    cno_count = max(layout.station_cno) + 1
    lines = [
        f"# {name}: generated by `{command or 'python -m bench.city_scenario'}` "
        "(bench/city_scenario.py states every choice).",
        f"# {len(names)} stations, {feeders} case33bw feeders under one DSO"
        + (f", {cno_count} CNOs" if mechanism == "pricing" else "") + f", {periods} periods.",
        "#",
        f"#   PTN_TNTP_DIR=/path/to/tntp ptn run {name}",
        "",
        "[scenario]",
        f'name = "{name}"',
        f'description = "{len(names)} stations, {feeders} feeders'
        + (f", {cno_count} CNOs' price game" if mechanism == "pricing" else ", joint ADMM")
        + f' on {network}"',
        f"periods = {periods}",
        f"period_hours = {hours:g}",
        "stations = [" + ", ".join(f'"{s}"' for s in names) + "]",
        "",
        "[coordinator]",
    ]
    if mechanism == "pricing":
        lines += [
            'mechanism = "best-response"',
            "# 60 rounds: seed 001's cap of 30 stops larger games unconverged "
            "(bench/results/game_mechanism.md)",
            "max_rounds = 60",
            "tolerance = 0.005",
            'variants = ["nash"]',
            "certificate = true",
            "revenue_matrix = false",
            "initial_charging_price_per_mwh = 200.0",
            "# every CNO answers the round's prices at once, their probes in one batch that the",
            "# traffic department's workers share (Algorithm 1's in-turn order: one CNO at a time)",
            'best_response_order = "simultaneous"',
            "# the certificate's CNO entries at once, their probes in one batch per phase",
            "certificate_together = true",
        ]
    else:
        lines += [
            'mechanism = "admm"',
            "max_rounds = 200",
            "tolerance = 1e-3",
            "initial_penalty_per_mw2h = 50.0",
            "residual_balancing = true",
            "baseline_tariff_per_mwh = 85.0",
        ]
    lines += [
        'call_timeout_s = "auto"',
        "retries = 2",
        "",
        "# the full-information reference beside the outcome: skipped, with the reason, "
        "past this",
        "[reference]",
        "time_limit_s = 600",
        "",
        "[traffic]",
        f'network = "$PTN_TNTP_DIR/{network}"',
        f"demand_profile = {_series(tuple(demand))}",
        f"ev_share = {layout.ev_share:.6g}",
        "energy_per_charge_mwh = 0.045",
        "value_of_time_per_h = 10.0",
        "max_shift_periods = 1",
        f"shift_cost_per_period = {0.75 * hours:g}",
    ]
    if mechanism == "pricing":
        lines += ["price_sensitivity = 1.5", "base_price_per_mwh = 200.0"]
    lines += ["equilibrium_gap = 2e-8" if mechanism == "pricing" else "equilibrium_gap = 1e-8"]
    if mechanism == "pricing":
        lines += ["# probe batches re-solved on two private worker processes (1.6x per probe on "
                  "Chicago Sketch;", "# docs/traffic-probes.md)", "probe_workers = 2",
                  "# the CNOs' 0.25 $/MWh probes answered by the equilibrium's own derivatives "
                  "(implicit", "# differentiation): a round costs one exact equilibrium "
                  "(docs/traffic-probes.md)", 'probe_answers = "derivative"',
                  "probe_radius_per_mwh = 0.25"]
    for station, node in zip(names, layout.station_node, strict=True):
        lines += ["", "[[traffic.station]]", f'name = "{station}"', f"node = {node}",
                  "capacity_veh_per_h = 40.0", "charging_time_h = 0.5", "davidson_j = 0.5"]
    lines += ["", "[dso]", "feeder = ["]
    lines += [f'    {{ name = "f{f + 1}", case = "case33bw" }},' for f in range(feeders)]
    lines += ["]"]
    if mechanism == "pricing":
        lines += ["", "[dso.pricing]", "price_min_per_mwh = 80.0", "price_max_per_mwh = 180.0",
                  "mean_cap_per_mwh = 120.0", "proximal_weight = 0.2", "trial_rounds = 5",
                  "seed = 1"]
    lines += ["", "[dso.horizon]", f"load_profile = {_series(tuple(load))}", "",
              "[dso.upstream]", f"prices_per_mwh = {_series(tuple(upstream))}"]
    for f in range(feeders):
        lines += ["", "[[dso.micro_turbine]]", f'name = "mt-f{f + 1}"', f'feeder = "f{f + 1}"',
                  "bus = 18", "p_max_mw = 1.0", "cost_quadratic_per_mw2h = 0.024",
                  "cost_linear_per_mwh = 70.0", f"ramp_mw_per_h = {0.5 * hours / 6:g}"]
    for station, feeder, bus in zip(names, layout.station_feeder, layout.station_bus,
                                    strict=True):
        lines += ["", "[[dso.charging_point]]", f'name = "{station}"',
                  f'feeder = "f{feeder + 1}"', f"bus = {bus}"]
    if mechanism == "pricing":
        for k in range(cno_count):
            owned = [s for s, c in zip(names, layout.station_cno, strict=True) if c == k]
            lines += ["", f"[cno.cno{k + 1}]",
                      "stations = [" + ", ".join(f'"{s}"' for s in owned) + "]",
                      "price_min_per_mwh = 150.0", "price_max_per_mwh = 250.0",
                      'best_response = "aem"', 'elasticity = "per-period"', "aem_steps = 1",
                      "probe_step_per_mwh = 0.25", "aem_measure_final = false",
                      "trust_region_per_mwh = 5.0", "trust_region_shrink = 0.5",
                      'certificate_search = "verified"', "certificate_poll_step_per_mwh = 5.0",
                      "exact_min_step_per_mwh = 0.5"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", default="ChicagoSketch")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--feeders", type=int, default=20)
    parser.add_argument("--cnos", type=int, default=50)
    parser.add_argument("--periods", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPOSITORY / "scenarios")
    parser.add_argument("--name", default="chicago-city")
    args = parser.parse_args()
    tntp = Path(os.environ.get("PTN_TNTP_DIR", REPOSITORY.parent / "shared" / "data" / "tntp"))
    layout = city_layout(tntp / args.network, stations=args.stations, feeders=args.feeders,
                         cnos=args.cnos)
    for mechanism, suffix in (("pricing", "game"), ("admm", "admm")):
        name = f"{args.name}-{suffix}"
        text = scenario_text(layout, name=name, mechanism=mechanism, network=args.network,
                             feeders=args.feeders, periods=args.periods,
                             command="python -m bench.city_scenario")
        (args.out / f"{name}.toml").write_text(text, encoding="utf-8")
        print(args.out / f"{name}.toml")


if __name__ == "__main__":
    main()
