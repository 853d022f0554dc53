"""Build and run TAP-B (Dial's Algorithm B in C) for the whole-process traffic benchmark.

Why this exists: issue 16 asks ptn's UE solver to stay within 2x of Algorithm B (Dial 2006,
"A path-based user-equilibrium traffic assignment algorithm that obviates path storage and
enumeration", Transportation Research B 40(10)), the bush-based method that is the field's speed
reference. Its C implementation, TAP-B (UT Austin SPARTA lab, Steve Boyles; parallel version by
Thakkar and Velayutham), lives at https://github.com/spartalab/tap-b; Bar-Gera's original
code is not published in a repository we could reach. This module compiles TAP-B's ``src/`` and
``include/`` from a checkout with gcc (as its Makefile does: ``-O2 -pthread -DPARALLELISM=1``)
into a temporary directory, writes its parameters file and reads its link flows back in ptn's
link order.

TAP-B reads the TNTP files itself, but takes the generalized-cost weights only from the net
file's ``<DISTANCE FACTOR>`` / ``<TOLL FACTOR>`` metadata (Chicago Sketch keeps its 0.04
min/mile in the README), so :func:`net_file_with_factors` writes a copy of the net file with
them. Its stopping rule ``<GAP FUNCTION> RELATIVE GAP`` is (TSTT - SPTT) / SPTT, which differs
from ptn's and pytraf's (TSTT - SPTT) / TSTT by a factor 1 + gap; the benchmark judges every
tool's flows with one independent gap anyway.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ptn.engines.traffic.network import RoadNetwork

#: the compiler flags of TAP-B's Makefile (its default, parallel build)
GCC_FLAGS = ("-O2", "-pthread", "-DPARALLELISM=1", "-Wno-unused-result")
_FLOW_LINE = re.compile(r"^\((\d+),(\d+)\)\s+(\S+)")


def build_tapb(source: Path, work: Path) -> Path:
    """Compile TAP-B's sources from ``source`` (a checkout) in ``work``; return the binary."""
    for folder in ("src", "include"):
        if not (source / folder).is_dir():
            raise FileNotFoundError(f"{source}: no {folder}/ (expected a TAP-B checkout)")
    build = work / "tapb-build"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(source / "src", build / "src")
    shutil.copytree(source / "include", build / "include")
    binary = build / "tap"
    sources = sorted(str(path) for path in (build / "src").glob("*.c"))
    subprocess.run(["gcc", *GCC_FLAGS, "-I", str(build / "include"), *sources, "-o",
                    str(binary), "-lm"], check=True, capture_output=True, text=True)
    return binary


def net_file_with_factors(net_file: Path, out: Path, network: RoadNetwork) -> Path:
    """A copy of ``net_file`` whose metadata carries ptn's toll and distance factors."""
    text = net_file.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"^\s*<(TOLL|DISTANCE) FACTOR>.*\n", "", text, flags=re.MULTILINE)
    factors = (f"<DISTANCE FACTOR> {network.distance_factor!r}\n"
               f"<TOLL FACTOR> {network.toll_factor!r}\n")
    marker = text.find("<END OF METADATA>")
    out.write_text(text[:marker] + factors + text[marker:], encoding="utf-8")
    return out


def write_parameters(
    work: Path, net_file: Path, trips_file: Path, gap: float, threads: int, seconds: float
) -> tuple[Path, Path]:
    """TAP-B's parameters file for one run; returns (parameters, flows file it will write).

    TAP-B reads both files from one folder (``<FILE PATH>``), so they must share a directory.
    """
    if net_file.parent != trips_file.parent:
        raise ValueError(f"TAP-B needs {net_file.name} and {trips_file.name} in one folder")
    flows = work / f"tapb_flows_{gap:g}.txt"
    parameters = work / f"tapb_{gap:g}.txt"
    parameters.write_text(
        f"<NETWORK FILE> {net_file.name}\n<TRIPS FILE> {trips_file.name}\n"
        f"<FILE PATH> {net_file.parent}/\n<DATA PATH> {work}/\n<FLOWS FILE> {flows}\n"
        f"<CONVERGENCE GAP> {gap!r}\n<MAX RUN TIME> {seconds:g}\n"
        f"<NUMBER OF THREADS> {threads}\n", encoding="utf-8")
    return parameters, flows


def read_flows(path: Path, network: RoadNetwork) -> np.ndarray:
    """TAP-B's ``(tail,head) flow`` lines as link flows in ptn's order (parallel links in file
    order)."""
    slots: dict[tuple[int, int], list[int]] = {}
    tails = network.node_ids[network.link_tail].tolist()
    heads = network.node_ids[network.link_head].tolist()
    for link, key in enumerate(zip(tails, heads, strict=True)):
        slots.setdefault(key, []).append(link)
    flow = np.full(network.num_links, np.nan)
    taken: dict[tuple[int, int], int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _FLOW_LINE.match(line)
        if match is None:
            continue
        key = (int(match.group(1)), int(match.group(2)))
        index = taken.get(key, 0)
        taken[key] = index + 1
        flow[slots[key][index]] = float(match.group(3))
    return flow
