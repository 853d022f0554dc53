"""pytraf as a whole process, the way a pytraf user runs it: read TNTP, assign, write flows.

Why this exists: bench/traffic_processes.py times every tool as a whole process (start-up, file
reading, solving and writing the flows included), and pytraf is a library, so this is the
smallest script a user would write around it. It imports numpy and pytraf only. The
generalized-cost term ptn reads from a TNTP README (Chicago Sketch: 0.04 min/mile) is not in
pytraf's TNTP reader, so the benchmark passes it as a ``.npy`` of per-link extra cost
(``TrafficClass(extra_link_cost=...)``), computed once outside the timed runs.

Run: ``python -m bench.pytraf_process NET TRIPS --gap G --threads N --out FLOWS.npy
[--extra-cost COST.npy]``; prints a JSON line with iterations and pytraf's own gap.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytraf


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pytraf_process")
    parser.add_argument("net", type=Path)
    parser.add_argument("trips", type=Path)
    parser.add_argument("--gap", type=float, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--extra-cost", type=Path, default=None)
    parser.add_argument("--max-iter", type=int, default=100_000)
    arguments = parser.parse_args(argv)
    network = pytraf.Network.from_tntp(str(arguments.net))
    demand = pytraf.Demand.from_tntp(network, str(arguments.trips))
    extra = None if arguments.extra_cost is None else np.load(arguments.extra_cost)
    result = pytraf.assign(network, pytraf.TrafficClass(demand, extra_link_cost=extra),
                           gap=arguments.gap, max_iter=arguments.max_iter,
                           threads=arguments.threads)
    np.save(arguments.out, np.asarray(result.links.flow, dtype=np.float64))
    print(json.dumps({"iterations": int(result.iterations),
                      "relative_gap": float(result.relative_gap),
                      "converged": bool(result.converged)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
