"""EV classes with their own state of charge and energy need (seed 003, eqs. 1.g–1.h).

Why this module exists: seed 003 (Sadhu et al. 2022, Energy Informatics 5:35) models EVs with
heterogeneous batteries and states of charge: what an EV charges is bounded by its battery,
``P_ch + SoC_min·Q ≤ SoC_max·Q`` (1.h), at a rate below its maximum (1.g), so the charging
demand at a station depends on which EVs come. The traffic department's multi-period model
(:mod:`ptn.engines.traffic.multiperiod`) otherwise has one EV with one energy per charge
``E_B``. This module describes the classes and builds each class's graph.

Model. Class ``c`` has a share ``w_c`` of the EV trips (shares sum to 1) and an energy need
``E_c = (SoC_target − SoC_arrival)·Q_c`` (MWh; 1.h holds when ``SoC_min ≤ SoC_arrival <
SoC_target ≤ SoC_max``). A station's charging link counts *charging blocks* of energy ``E_B``
(the network's ``energy_per_charge_mwh``), and every ``E_c`` is a whole number ``k_c`` of blocks.
A class-``c`` EV passes its station's charging link ``k_c`` times (a chain of ``k_c`` arcs on the
same link in its graph), so

* the link's flow is ``y = Σ_c k_c·x_c`` blocks/h and the station's load ``E_B·y = Σ_c E_c·x_c``
  MW: the load depends on the class mix;
* a class-``c`` EV pays ``k_c·E_B·price = E_c·price`` and spends ``k_c`` times the block's
  Davidson time ``t0·(1 + J·y/(c − y))`` at the station: its charging time is proportional to its
  energy (every class charges at the station's rate ``E_B/t0``, which 1.g must allow) and
  **(choice)** so is its share of the queueing delay;
* the link costs stay functions of the link's total flow, the same for every class, so the
  equilibrium is still the minimiser of one Beckmann function: the exact path-based solver
  (which counts a link's occurrences on a path) and the link–node reference
  (:mod:`ptn.engines.traffic.beckmann_program`) serve unchanged, and ADMM's terms on the
  station's load ``E_B·y`` keep their form.

With one class of ``k = 1`` (no classes given) this is today's model exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.charging import ExpandedGraph

#: the most charging blocks one class's energy may span (a chain of that many arcs per station)
MAX_BLOCKS_PER_CHARGE = 100
#: energies are compared in whole Wh
WH_PER_MWH = 1e6


@dataclass(frozen=True)
class EvClass:
    """One EV class: its share of the EV trips and the energy it charges (MWh)."""

    name: str
    share: float
    energy_mwh: float


def check_ev_classes(classes: Sequence[EvClass], block_mwh: float) -> tuple[int, ...]:
    """Each class's number of charging blocks ``k_c = E_c / E_B``; refuses bad shares, names
    used twice, and energies that are not a whole number of blocks (naming the class)."""
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"EV classes: a name is used twice ({', '.join(names)})")
    blocks = []
    for c in classes:
        if not (math.isfinite(c.share) and 0 <= c.share <= 1):
            raise InvalidInputError(f"EV class {c.name}: share must be in [0, 1], got {c.share:g}")
        ratio = c.energy_mwh / block_mwh
        k = round(ratio)
        if not (math.isfinite(ratio) and k >= 1 and abs(ratio - k) <= 1e-9 * max(1.0, ratio)):
            raise InvalidInputError(
                f"EV class {c.name}: energy {c.energy_mwh:g} MWh is not a whole number of "
                f"charging blocks of {block_mwh:g} MWh"
            )
        if k > MAX_BLOCKS_PER_CHARGE:
            raise InvalidInputError(
                f"EV class {c.name}: energy {c.energy_mwh:g} MWh spans {k} charging blocks of "
                f"{block_mwh:g} MWh, more than {MAX_BLOCKS_PER_CHARGE}"
            )
        blocks.append(k)
    total = sum(c.share for c in classes)
    if classes and abs(total - 1.0) > 1e-9:
        raise InvalidInputError(f"EV classes: shares must sum to 1, got {total:g}")
    return tuple(blocks)


def common_block_mwh(energies_mwh: Sequence[float], what: Sequence[str]) -> float:
    """The largest energy (MWh) of which every energy is a whole number: their greatest common
    divisor in whole Wh. ``what`` names each energy's source for the error of one that is not a
    positive whole number of Wh."""
    wh = []
    for energy, name in zip(energies_mwh, what, strict=True):
        value = energy * WH_PER_MWH
        if not (math.isfinite(value) and value >= 1 and abs(value - round(value)) <= 1e-6):
            raise InvalidInputError(f"{name}: energy need {energy:.12g} MWh is not a positive "
                                    "whole number of Wh")
        wh.append(round(value))
    return math.gcd(*wh) / WH_PER_MWH


def chain_charging_arcs(graph: ExpandedGraph, num_road_links: int, blocks: int) -> ExpandedGraph:
    """``graph`` with each charging arc (one loading a link ``>= num_road_links``) replaced by a
    chain of ``blocks`` arcs on the same link through ``blocks - 1`` new nodes."""
    if blocks == 1:
        return graph
    charging = np.flatnonzero(graph.arc_link >= num_road_links)
    keep = np.flatnonzero(graph.arc_link < num_road_links)
    inner = graph.num_nodes + np.arange(charging.size * (blocks - 1), dtype=np.int64).reshape(
        charging.size, blocks - 1)
    # chain k: tail -> inner[k, 0] -> ... -> inner[k, -1] -> head
    tails = np.concatenate([graph.arc_tail[charging][:, None], inner], axis=1)
    heads = np.concatenate([inner, graph.arc_head[charging][:, None]], axis=1)
    links = np.repeat(graph.arc_link[charging][:, None], blocks, axis=1)
    labels = [f"{graph.node_labels[int(graph.arc_tail[a])]} block {b + 1}/{blocks}"
              for a in charging for b in range(blocks - 1)]
    return ExpandedGraph(
        num_nodes=graph.num_nodes + inner.size,
        arc_tail=np.concatenate([graph.arc_tail[keep], tails.ravel()]).astype(np.int64),
        arc_head=np.concatenate([graph.arc_head[keep], heads.ravel()]).astype(np.int64),
        arc_link=np.concatenate([graph.arc_link[keep], links.ravel()]).astype(np.int64),
        start_node=graph.start_node,
        end_node=graph.end_node,
        node_labels=(*graph.node_labels, *labels),
    )
