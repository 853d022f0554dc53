"""The traffic department's probe answers: seconds per probe and accuracy, by ``probe_*`` setting.

Why this exists: the pricing game's probes (the CNOs' AEM linearizations: a base price, then
each of the CNO's stations 1 $/MWh higher in every period) were answered by one exact
equilibrium each, one after another, and were 65–94 % of a game's time (issue 18). This bench
answers the same AEM-like batches under each setting of :mod:`ptn.services.traffic.probes` on
the same department and reports seconds per probe and each setting's answers against the
equilibria at a tight gap (1e-11 Sioux Falls, 1e-9 Chicago):

* ``exact`` — the historical answers (exact, each probe warm-started from the previous one, at
  the scenario's gap);
* ``exact, loads`` — re-solves warm-started from the nearest solved point, stopping once no
  station load moves by more than ``--load-tolerance-mw`` in an iteration;
* ``sensitivity`` — the base re-solved, one step re-solved as a check, the others by the
  first-order expansion (``probe_radius_per_mwh = 1``);
* ``exact, 2 workers`` — re-solves on two private worker processes.

Networks: ``siouxfalls`` (scenarios/pricing-siouxfalls.toml's traffic: 10 stations × 4 periods,
gap 2e-8) and ``chicago`` (Chicago Sketch with that scenario's traffic settings and 100 stations
at evenly spread nodes, 40 veh/h each, × 4 periods). Each batch perturbs the department's state
(its last price response, random prices in [180, 220] $/MWh) by a CNO's new prices (its stations
moved by up to ±5 $/MWh) and probes each of its stations (``--stations-per-cno``).

Run (PTN_TNTP_DIR pointing to the TNTP networks; 2-core machine, other jobs niced):
``nice -n 5 python -m bench.traffic_probes --network siouxfalls chicago --batches 2
--stations-per-cno 2 --out bench/results/traffic_probes.md``. With ``--trajectory N``: one
probe's re-solve from the state, N iterations, each with its relative gap, how far the station
loads moved and their error against a tight-gap equilibrium (what ``probe_load_tolerance_mw``
sees).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ptn.engines.traffic.builtin import load_network
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import MultiPeriodSpec
from ptn.engines.traffic.path_based import solve_path_based
from ptn.scenario.document import load_scenario
from ptn.services.traffic.config import ProbeSettings, TrafficConfig, traffic_config_from_part
from ptn.services.traffic.model import TrafficDepartmentModel
from ptn.services.traffic.probes import ProbeAnswerer

REPOSITORY = Path(__file__).resolve().parents[1]
SIOUX_FALLS = REPOSITORY / "scenarios" / "pricing-siouxfalls.toml"


def sioux_falls() -> TrafficConfig:
    return traffic_config_from_part(load_scenario(SIOUX_FALLS).part("traffic"))


def chicago(stations: int = 100) -> TrafficConfig:
    """Chicago Sketch with pricing-siouxfalls.toml's traffic settings and ``stations``
    stations at evenly spread nodes."""
    reference = sioux_falls()
    spec = reference.spec
    network = load_network(Path(os.environ["PTN_TNTP_DIR"]) / "ChicagoSketch")
    periods = spec.num_periods
    nodes = network.node_ids[np.linspace(0, network.node_ids.size - 1, stations).astype(int)]
    charging = ChargingNetworkSpec(
        network, tuple(ChargingStation(f"cs{n}", int(n), 40.0, 0.5, 0.5, np.zeros(periods))
                       for n in nodes),
        spec.charging.energy_per_charge_mwh, spec.charging.value_of_time_per_h)
    share = spec.ev_demand_veh_per_h.sum() / (spec.ev_demand_veh_per_h.sum()
                                              + spec.gv_demand_veh_per_h.sum())
    profile = spec.ev_demand_veh_per_h.sum(axis=1) / spec.ev_demand_veh_per_h.sum(axis=1).max()
    demand = profile[:, None] * network.od_demand[None, :] * 0.5
    chicago_spec = MultiPeriodSpec(charging, demand * (1 - share), demand * share,
                                   max_shift_periods=spec.max_shift_periods,
                                   shift_cost_per_period=spec.shift_cost_per_period,
                                   price_sensitivity=spec.price_sensitivity,
                                   base_price_per_mwh=spec.base_price_per_mwh)
    return replace(reference, operator_id="traffic-chicago", spec=chicago_spec)


@dataclass
class ModeRun:
    name: str
    seconds: float = 0.0
    probes: int = 0
    solved: int = 0
    worst_error_mw: float = 0.0
    worst_relative: float = 0.0


def batches(config: TrafficConfig, state_price: np.ndarray, count: int, per_cno: int,
            seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    stations = len(config.station_names)
    out = []
    for _ in range(count):
        mine = rng.choice(stations, size=per_cno, replace=False)
        centre = state_price.copy()
        centre[mine] += rng.uniform(-5.0, 5.0, (per_cno, 1))
        batch = [centre]
        for m in mine:
            probe = centre.copy()
            probe[m] += 1.0
            batch.append(probe)
        out.append(batch)
    return out


def run(config: TrafficConfig, count: int, per_cno: int, tolerance: float, seed: int,
        reference_gap: float) -> tuple[dict[str, float], list[ModeRun]]:
    model = TrafficDepartmentModel(config)
    stations, periods = len(config.station_names), config.spec.num_periods
    state_price = np.random.default_rng(seed).uniform(180.0, 220.0, (stations, periods))
    started = time.perf_counter()
    model.respond_to_prices(state_price)
    facts = {"state solve s": time.perf_counter() - started, "stations": stations,
             "periods": periods, "gap": config.equilibrium_gap}
    state = model._last
    work = batches(config, state_price, count, per_cno, seed)
    modes = {"exact": ProbeSettings(),
             f"exact, loads {tolerance:g} MW": ProbeSettings(load_tolerance_mw=tolerance),
             "sensitivity": ProbeSettings("sensitivity"),
             "exact, 2 workers": ProbeSettings(workers=2)}
    # the reference: every probe at a tight gap, the steps warm-started from their base
    started = time.perf_counter()
    reference = []
    for batch in work:
        base = model.problem.solve(batch[0], gap=reference_gap, max_iterations=5000,
                                   warm_start=state)
        reference.append([base.station_load_mw.T] + [
            model.problem.solve(price, gap=reference_gap, max_iterations=5000,
                                warm_start=base).station_load_mw.T for price in batch[1:]])
    facts["reference s"] = time.perf_counter() - started
    facts["reference gap"] = reference_gap
    runs = []
    for name, settings in modes.items():
        record = ModeRun(name)
        answerer = ProbeAnswerer(model.problem, settings, config.equilibrium_gap,
                                 config.max_iterations)
        if settings.workers > 1:  # start the workers outside the timing
            answerer.answer([state_price, state_price + 1.0], state)
            answerer.forget()
        for batch, truth in zip(work, reference, strict=True):
            started = time.perf_counter()
            if settings.default:
                model._last, model._last_probe = state, None
                loads = model.probe_responses(batch).load_mw
                solved = len(batch)
            else:
                answer = answerer.answer(batch, state)
                loads, solved = answer.load_mw, answer.solved
            record.seconds += time.perf_counter() - started
            record.probes += len(batch)
            record.solved += solved
            for load, exact in zip(loads[1:], truth[1:], strict=True):
                change = exact - truth[0]
                error = float(np.abs((load - loads[0]) - change).max())
                record.worst_error_mw = max(record.worst_error_mw, error)
                record.worst_relative = max(record.worst_relative,
                                            error / max(float(np.abs(change).max()), 1e-12))
        answerer.close()
        runs.append(record)
        print(f"  {name}: {record.seconds / record.probes:.3f} s per probe, "
              f"{record.solved}/{record.probes} re-solved, worst error "
              f"{record.worst_error_mw:.2e} MW ({100 * record.worst_relative:.1f} % of the "
              f"step's change)", flush=True)
    model.close()
    return facts, runs


def trajectory(config: TrafficConfig, reference_gap: float, iterations: int,
               seed: int) -> list[str]:
    """One 1 $/MWh probe re-solved from the state (at the scenario's gap): per iteration the
    relative gap, how far the station loads moved and the error of the load change against
    the probe at ``reference_gap`` (what a station-load stop would see)."""
    problem = TrafficDepartmentModel(config).problem
    stations, periods = len(config.station_names), config.spec.num_periods
    price = np.random.default_rng(seed).uniform(180.0, 220.0, (stations, periods))
    state = problem.solve(price, gap=config.equilibrium_gap, max_iterations=5000)
    probe = price.copy()
    probe[0] += 1.0
    exact = problem.solve(probe, gap=reference_gap, max_iterations=5000, warm_start=state)
    change = exact.station_load_mw - state.station_load_mw
    links, energy = problem.station_links(), config.spec.charging.energy_per_charge_mwh
    rows = ["| iteration | relative gap | loads moved MW | error MW | error % |",
            "|---|---|---|---|---|"]
    previous: list[np.ndarray] = []

    def record(flow: np.ndarray, gap: float) -> bool:
        load = flow[links] * energy
        moved = float(np.abs(load - previous[0]).max()) if previous else float("inf")
        previous[:] = [load]
        error = float(np.abs((load - state.station_load_mw) - change).max())
        rows.append(f"| {len(rows) - 1} | {gap:.1e} | {moved:.1e} | {error:.1e} | "
                    f"{100 * error / float(np.abs(change).max()):.0f} |")
        return False

    solve_path_based(problem.problem_at(probe), gap=1e-15, max_iterations=iterations,
                     warm_start=state.warm_start, stop=record)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", nargs="+", default=["siouxfalls"],
                        choices=["siouxfalls", "chicago"])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--stations-per-cno", type=int, default=2)
    parser.add_argument("--load-tolerance-mw", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--trajectory", type=int, metavar="ITERATIONS",
                        help="instead: one probe's re-solve, iteration by iteration")
    args = parser.parse_args()
    if args.trajectory:
        for network in args.network:
            config = sioux_falls() if network == "siouxfalls" else chicago()
            print(f"## {network}\n\n" + "\n".join(trajectory(
                config, 1e-11 if network == "siouxfalls" else 1e-10, args.trajectory,
                args.seed)))
        return
    lines = ["# Traffic department probe answers (bench/traffic_probes.py)", "",
             f"Machine: {platform.node()}, {os.cpu_count()} cores, load average "
             f"{os.getloadavg()[0]:.1f} at start. Command: `python -m bench.traffic_probes "
             f"--network {' '.join(args.network)} --batches {args.batches} --stations-per-cno "
             f"{args.stations_per_cno} --load-tolerance-mw {args.load_tolerance_mw:g}`.", ""]
    for network in args.network:
        print(network, flush=True)
        config = sioux_falls() if network == "siouxfalls" else chicago()
        reference_gap = 1e-11 if network == "siouxfalls" else 1e-9
        facts, runs = run(config, args.batches, args.stations_per_cno, args.load_tolerance_mw,
                          args.seed, reference_gap)
        lines += [f"## {network}: {facts['stations']} stations × {facts['periods']} periods, "
                  f"gap {facts['gap']:g}", "",
                  f"State solve (cold): {facts['state solve s']:.1f} s. Errors against "
                  f"equilibria at gap {facts['reference gap']:g} ({facts['reference s']:.0f} s):"
                  " the largest error of a step's load change (step probe minus its base, the "
                  "difference the CNOs' elasticities are made of), MW and as a share of the "
                  "step's largest load change.", "",
                  "| answers | s per probe | re-solved | worst error MW | worst error % |",
                  "|---|---|---|---|---|"]
        for record in runs:
            lines.append(f"| {record.name} | {record.seconds / record.probes:.3f} | "
                         f"{record.solved}/{record.probes} | {record.worst_error_mw:.2e} | "
                         f"{100 * record.worst_relative:.1f} |")
        lines.append("")
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
