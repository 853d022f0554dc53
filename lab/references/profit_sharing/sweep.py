"""The leader's cost over the share, and the exact breakpoints of the follower's response.

Why this module exists: the referee's second question on seed 000 (MODELS.md §4): is the ρ*
the private search finds (:mod:`ptn.coordinator.mechanisms.profit_sharing`) the global minimum of
the leader's cost? For a one-dimensional leader an exhaustive sweep of ρ, completed by the exact
breakpoints between its grid points, solves the bilevel problem exactly; the KKT reformulation
(:mod:`ptn.lab.references.profit_sharing.kkt`) checks it by another method on sliced instances.

:func:`sweep`: ρ over a grid, at each point V, the two selections
(:meth:`ptn.lab.references.profit_sharing.follower.FollowerModel.ties`), the leader's optimistic
and pessimistic costs, their argmins and the tie width; then the **exact** breakpoints of the
follower's response between the grid points. With an LP follower ``V(ρ)`` is concave and
piecewise linear; in the interior of a piece the optimal face's (C_TNO, C_DSO) are unique (a
C_DSO tie at ρ would make V kinked there: ``V(ρ') ≤ V(ρ) + (ρ' − ρ)·C_DSO(x)`` for every x of
F(ρ)), so any optimal point there has the piece's (C_TNO, C_DSO). Between two grid points whose
vertices differ, the two lines ``C_TNO + ρ·C_DSO`` meet at ρ_x; if ``V(ρ_x)`` is on them, ρ_x is
the breakpoint, else a piece in between was found and both halves are searched again (Eisner &
Severance, "Mathematical techniques for efficient record segmentation in large shared
databases", J. ACM 23(4), 1976: the parametric bisection of a piecewise linear concave
function). The leader's cost is linear and increasing on each piece (``C0 − C_DSO ≥ 0``: C_DSO
is non-increasing in ρ for any selection,
:func:`ptn.coordinator.mechanisms.profit_sharing.refine_shares`), so its optimistic infimum is at
a breakpoint with the right-hand (lower C_DSO) piece, where the optimistic follower attains it;
the pessimistic follower takes the left-hand piece there, and the pessimistic infimum is only
approached from the right.

Units: $ over the horizon, shares in [0, 1]. Invalid input raises
:class:`~ptn.engines.errors.InvalidInputError`; solver trouble is a status in the result.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase, FloatArray
from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import Formulation
from ptn.lab.references.profit_sharing.follower import (
    DEFAULT_TIE_REL_TOL,
    FollowerModel,
    TieAnalysis,
    TieMethod,
)
from ptn.lab.references.profit_sharing.game import FollowerStatus, leader_cost_usd

#: two pieces of the follower's response are one when their C_DSO differ by less than this,
#: relative to C0 (a merged piece moves the leader's cost by at most that much)
DEFAULT_PIECE_REL_TOL = 1e-7

#: grid of the sweep: 1001 shares (resolution 1e-3) take ~54 s on the 24-period 12-node case
#: (three follower solves of ~16 ms per share with the perturbation tie method, and ~15 more
#: for the breakpoints); the constrained tie method takes ~2x as long
DEFAULT_SWEEP_POINTS = 1001


@dataclass(frozen=True)
class Breakpoint:
    """A share where the follower's response jumps from the left piece to the right one.

    Both pieces are optimal at ``share``; the left one has the higher C_DSO. Leader costs at
    ``share``: optimistic (right piece, attained) and pessimistic (left piece).
    """

    share: float
    left_tno_cost_usd: float
    left_dso_cost_usd: float
    right_tno_cost_usd: float
    right_dso_cost_usd: float
    optimistic_leader_cost_usd: float
    pessimistic_leader_cost_usd: float

    @property
    def width_usd(self) -> float:
        return self.left_dso_cost_usd - self.right_dso_cost_usd


@dataclass(frozen=True)
class SweepResult:
    """The follower's response and the leader's cost over a grid of shares (and exactly).

    Arrays have one entry per share of ``shares`` (ascending). ``status`` is ``optimal`` when
    every solve gave a solution, else ``failed`` with the shares in ``message`` (their entries
    NaN). At ρ = 0 the follower is the prescheduling: pessimistic = the TNO's own plan (C0),
    optimistic = the least C_DSO among the TNO's own optima (what an optimistic bilevel model
    takes there). ``breakpoints``: the exact breakpoints of the follower's response found from
    the grid (module doc), empty when not searched; ``exact_*``: the optimistic leader's
    minimum over them, ρ = 0 and ρ = 1.
    """

    status: FollowerStatus
    message: str
    station_names: tuple[str, ...]
    original_dso_cost_usd: float
    tno_cost_alone_usd: float
    shares: FloatArray
    value_usd: FloatArray
    solver_tno_cost_usd: FloatArray
    solver_dso_cost_usd: FloatArray
    optimistic_tno_cost_usd: FloatArray
    optimistic_dso_cost_usd: FloatArray
    pessimistic_tno_cost_usd: FloatArray
    pessimistic_dso_cost_usd: FloatArray
    tolerance_usd: FloatArray
    breakpoints: tuple[Breakpoint, ...]
    seconds: float
    extra_solves: int = 0

    # ------------------------------------------------------------------ leader's costs
    def leader_cost_usd(self, dso_cost_usd: FloatArray) -> FloatArray:
        """``C_DSO + ρ·(C0 − C_DSO)`` over the grid."""
        return dso_cost_usd + self.shares * (self.original_dso_cost_usd - dso_cost_usd)

    @property
    def optimistic_leader_cost_usd(self) -> FloatArray:
        return self.leader_cost_usd(self.optimistic_dso_cost_usd)

    @property
    def pessimistic_leader_cost_usd(self) -> FloatArray:
        return self.leader_cost_usd(self.pessimistic_dso_cost_usd)

    @property
    def tie_width_usd(self) -> FloatArray:
        return self.pessimistic_dso_cost_usd - self.optimistic_dso_cost_usd

    @property
    def resolution(self) -> float:
        """The largest gap between neighbouring shares of the grid."""
        return float(np.max(np.diff(self.shares))) if self.shares.size > 1 else 1.0

    def _argmin(self, costs: FloatArray) -> tuple[float, float]:
        if not np.isfinite(costs).any():
            return float("nan"), float("nan")
        k = int(np.nanargmin(costs))
        return float(self.shares[k]), float(costs[k])

    @property
    def optimistic_best(self) -> tuple[float, float]:
        """(ρ, L) of the grid's least optimistic leader cost."""
        return self._argmin(self.optimistic_leader_cost_usd)

    @property
    def pessimistic_best(self) -> tuple[float, float]:
        """(ρ, L) of the grid's least pessimistic leader cost."""
        return self._argmin(self.pessimistic_leader_cost_usd)

    @property
    def exact_best(self) -> tuple[float, float]:
        """(ρ, L): the optimistic leader's infimum over the breakpoints, ρ = 0 and ρ = 1."""
        candidates = [(float(self.shares[0]), float(self.optimistic_leader_cost_usd[0]))] \
            if self.shares[0] == 0.0 else []
        candidates.append((1.0, self.original_dso_cost_usd))
        candidates += [(b.share, b.optimistic_leader_cost_usd) for b in self.breakpoints]
        finite = [c for c in candidates if math.isfinite(c[1])]
        return min(finite, key=lambda c: c[1]) if finite else (float("nan"), float("nan"))

    def breakpoints_between(self, low: float, high: float) -> tuple[Breakpoint, ...]:
        return tuple(b for b in self.breakpoints if low <= b.share <= high)


def _piece(analysis: TieAnalysis, side: Literal["left", "right"],
           piece_tol_usd: float) -> tuple[float, float]:
    """(C_TNO, C_DSO) of the piece just left or right of ``analysis.share``.

    Where the tie width is within ``piece_tol_usd`` the share is inside a piece, whose costs
    the solver's point has exactly (the selections are off by their ε-reach along the
    frontier); otherwise it is at or next to a breakpoint, and the pessimistic (left) and
    optimistic (right) selections stand for the two pieces: both lie on the frontier edges
    through the breakpoint, so the lines of neighbouring shares still cross exactly there.
    """
    if analysis.width_usd <= piece_tol_usd and analysis.share > 0:
        chosen = analysis.follower
    else:
        chosen = analysis.optimistic if side == "right" else analysis.pessimistic
    return chosen.tno_cost_usd, chosen.dso_cost_usd


def _search_breakpoints(
    model: FollowerModel,
    analyses: dict[float, TieAnalysis],
    original: float,
    piece_tol_usd: float,
    max_solves: int,
    method: TieMethod,
) -> tuple[list[Breakpoint], int, str]:
    """Eisner–Severance bisection between neighbouring analysed shares (module doc)."""
    found: list[Breakpoint] = []
    solves = 0
    note = ""

    def at(analysis: TieAnalysis) -> None:
        """A share on a breakpoint: its selections are the two pieces."""
        if analysis.share > 0 and analysis.has_solution and analysis.width_usd > piece_tol_usd:
            left, right = analysis.pessimistic, analysis.optimistic
            found.append(Breakpoint(
                share=analysis.share, left_tno_cost_usd=left.tno_cost_usd,
                left_dso_cost_usd=left.dso_cost_usd, right_tno_cost_usd=right.tno_cost_usd,
                right_dso_cost_usd=right.dso_cost_usd,
                optimistic_leader_cost_usd=leader_cost_usd(analysis.share, right.dso_cost_usd,
                                                           original),
                pessimistic_leader_cost_usd=leader_cost_usd(analysis.share, left.dso_cost_usd,
                                                            original)))

    for analysis in analyses.values():
        at(analysis)
    shares = sorted(analyses)
    stack = list(itertools.pairwise(shares))
    while stack:
        low, high = stack.pop()
        t_right, d_right = _piece(analyses[low], "right", piece_tol_usd)
        t_left, d_left = _piece(analyses[high], "left", piece_tol_usd)
        if not all(math.isfinite(v) for v in (t_right, d_right, t_left, d_left)):
            continue
        if d_right - d_left <= piece_tol_usd:
            continue
        crossing = (t_left - t_right) / (d_right - d_left)
        crossing = min(max(crossing, low), high)
        line = t_right + crossing * d_right
        if crossing in (low, high) or high - low <= 1e-12:
            probe = analyses.get(crossing)
        else:
            if solves >= max_solves:
                note = f"breakpoint search stopped after {max_solves} extra solves"
                continue
            probe = model.ties(crossing, method=method)
            solves += 1
        if probe is not None and probe.has_solution \
                and probe.follower.objective_usd < line - model.tolerance_usd(line):
            analyses[crossing] = probe  # a piece in between: search both halves
            at(probe)
            stack += [(low, crossing), (crossing, high)]
            continue
        found.append(Breakpoint(
            share=crossing, left_tno_cost_usd=t_right, left_dso_cost_usd=d_right,
            right_tno_cost_usd=t_left, right_dso_cost_usd=d_left,
            optimistic_leader_cost_usd=leader_cost_usd(crossing, d_left, original),
            pessimistic_leader_cost_usd=leader_cost_usd(crossing, d_right, original)))
    return _merge(found, original), solves, note


def _merge(found: list[Breakpoint], original: float) -> list[Breakpoint]:
    """One breakpoint per share (a grid point on a breakpoint is found from both sides)."""
    merged: list[Breakpoint] = []
    for point in sorted(found, key=lambda b: b.share):
        if merged and abs(point.share - merged[-1].share) <= 1e-9:
            last = merged[-1]
            left = max((last.left_dso_cost_usd, last.left_tno_cost_usd),
                       (point.left_dso_cost_usd, point.left_tno_cost_usd))
            right = min((last.right_dso_cost_usd, last.right_tno_cost_usd),
                        (point.right_dso_cost_usd, point.right_tno_cost_usd))
            merged[-1] = Breakpoint(
                last.share, left[1], left[0], right[1], right[0],
                leader_cost_usd(last.share, right[0], original),
                leader_cost_usd(last.share, left[0], original))
        else:
            merged.append(point)
    return merged


def sweep(
    fleet_case: FleetCase,
    dso_case: DsoCase,
    shares: ArrayLike | None = None,
    *,
    station_order: Sequence[int] | None = None,
    formulation: Formulation = "lindistflow",
    tie_rel_tol: float = DEFAULT_TIE_REL_TOL,
    piece_rel_tol: float = DEFAULT_PIECE_REL_TOL,
    tie_method: TieMethod = "perturbation",
    exact_breakpoints: bool = True,
    max_extra_solves: int = 400,
    model: FollowerModel | None = None,
) -> SweepResult:
    """The leader's optimistic and pessimistic costs over ``shares`` (default
    :data:`DEFAULT_SWEEP_POINTS` evenly in [0, 1]) and, with ``exact_breakpoints``, the exact
    breakpoints of the follower's response between them (module doc).

    ``model`` reuses a built :class:`FollowerModel` (its cases and options then apply).
    """
    started = time.perf_counter()
    grid = np.linspace(0.0, 1.0, DEFAULT_SWEEP_POINTS) if shares is None \
        else np.unique(np.asarray(shares, dtype=np.float64))
    if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all() \
            or grid[0] < 0 or grid[-1] > 1:
        raise InvalidInputError("shares must be finite values in [0, 1]")
    if model is None:
        model = FollowerModel(fleet_case, dso_case, station_order=station_order,
                              formulation=formulation, tie_rel_tol=tie_rel_tol)
    alone = model.prescheduling()
    nan = float("nan")
    n = grid.size
    empty = np.full(n, np.nan)
    if alone.status != "optimal":
        return SweepResult(alone.status, alone.message, model.station_names, nan, nan, grid,
                           empty, empty, empty, empty, empty, empty, empty, empty, (),
                           time.perf_counter() - started)
    original = alone.dso_cost_usd
    analyses: dict[float, TieAnalysis] = {}
    for share in grid:
        analyses[float(share)] = model.ties(float(share), method=tie_method)
    failed = [share for share, a in analyses.items() if not a.has_solution]

    def column(pick: str, cost: str) -> FloatArray:
        return np.array([getattr(getattr(analyses[float(s)], pick), cost) for s in grid])

    result = SweepResult(
        status="failed" if failed else "optimal",
        message=f"no solution at shares {failed[:10]}" if failed else "",
        station_names=model.station_names, original_dso_cost_usd=original,
        tno_cost_alone_usd=alone.tno_cost_usd, shares=grid,
        value_usd=column("follower", "objective_usd"),
        solver_tno_cost_usd=column("follower", "tno_cost_usd"),
        solver_dso_cost_usd=column("follower", "dso_cost_usd"),
        optimistic_tno_cost_usd=column("optimistic", "tno_cost_usd"),
        optimistic_dso_cost_usd=column("optimistic", "dso_cost_usd"),
        pessimistic_tno_cost_usd=column("pessimistic", "tno_cost_usd"),
        pessimistic_dso_cost_usd=column("pessimistic", "dso_cost_usd"),
        tolerance_usd=np.array([analyses[float(s)].tolerance_usd for s in grid]),
        breakpoints=(), seconds=0.0)
    if exact_breakpoints and not failed:
        found, solves, note = _search_breakpoints(
            model, dict(analyses), original, piece_rel_tol * max(abs(original), 1.0),
            max_extra_solves, tie_method)
        result = replace(result, breakpoints=tuple(found), extra_solves=solves,
                         message="; ".join(m for m in (result.message, note) if m))
    return replace(result, seconds=time.perf_counter() - started)
