"""Residual flow carried from one period to the next: the semi-dynamic assignment of seed 003.

Why this module exists: seed 003 (Sadhu et al. 2022, "Optimal joint operation of coupled
transportation and power distribution urban networks", Energy Informatics 5:35) assigns its
traffic semi-dynamically: its constraint (1.e) adds to the OD demand ``η_sd(t)`` of a period the
residual flow of the previous period, the vehicles of the OD pair that have not finished their
trip within it and so stay on the network into the next. The multi-period model
(:mod:`ptn.engines.traffic.multiperiod`) otherwise assigns every period on its own; this module
computes, per OD pair and period, how many vehicles are on the network (new trips plus the
residual carried in), how many finish and how many are carried on.

Model (per OD pair; ``r_t`` = ``residual_share`` of period ``t``, in [0, 1)):

* on the network in ``t``: ``n_t = η_t + c_{t-1}`` (``c_{-1} = 0``), with ``η_t`` the new trips
  of both classes (the paper's 1.e: residual added to the current demand);
* carried over: ``c_t = r_t · n_t``; finished: ``n_t - c_t``. So vehicles in equal vehicles
  finished plus carried over, period by period and over the horizon
  (``Σ_t η_t = Σ_t finished_t + c_{T-1}``, ``c_{T-1}`` still on the network at its end).

**(choice)** The paper makes the residual a function of the congestion index ("wrt. congestion
index"); here ``r_t`` is a given share per period, so the demand of each period stays exogenous
and the multi-period problem one convex program (the centralized reference models it
unchanged). **(choice)** An EV charges in the period its trip begins (that is where its charging
link is counted); a carried EV joins the next period's non-charging class (``GV`` in the code),
so it loads the roads again but not a station: each EV trip's energy is counted once.
**(choice)** The horizon is not a cycle: what is carried out of the last period leaves the model.
Loads and flows are rates (veh/h): with equal periods, a share of a rate is the same share of the
vehicles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.network import FloatArray


@dataclass(frozen=True)
class ResidualFlow:
    """Per period and OD pair (arrays ``(periods, OD pairs)``, veh/h): the new trips of each
    class, the residual carried in, the vehicles on the network, finished and carried out."""

    new_gv_veh_per_h: FloatArray
    new_ev_veh_per_h: FloatArray
    carried_in_veh_per_h: FloatArray
    finished_veh_per_h: FloatArray
    carried_out_veh_per_h: FloatArray

    @property
    def assigned_gv_veh_per_h(self) -> FloatArray:
        """The non-charging class's demand in each period: new GV trips plus the residual (GV
        and EV trips that began earlier, see the module doc)."""
        return self.new_gv_veh_per_h + self.carried_in_veh_per_h

    @property
    def on_network_veh_per_h(self) -> FloatArray:
        """Vehicles on the network in each period: new trips plus the residual carried in."""
        return self.new_gv_veh_per_h + self.new_ev_veh_per_h + self.carried_in_veh_per_h

    @property
    def beyond_horizon_veh_per_h(self) -> FloatArray:
        """Per OD pair, the vehicles still on the network at the horizon's end."""
        return self.carried_out_veh_per_h[-1].copy()


def check_residual_share(residual_share: ArrayLike, periods: int) -> FloatArray:
    """``residual_share`` as one value per period, each in [0, 1) (a share of 1 would never let
    a vehicle finish)."""
    try:
        shares = np.broadcast_to(np.asarray(residual_share, dtype=np.float64), (periods,))
    except ValueError:
        raise InvalidInputError(
            f"residual_share: needs one value or one per period ({periods}), got "
            f"{np.shape(residual_share)}"
        ) from None
    bad = np.flatnonzero(~np.isfinite(shares) | (shares < 0) | (shares >= 1))
    if bad.size:
        t = int(bad[0])
        raise InvalidInputError(
            f"residual_share: must be in [0, 1), got {shares[t]:g} in period {t}"
        )
    return shares.copy()


def carry_over(new_gv_veh_per_h: FloatArray, new_ev_veh_per_h: FloatArray,
               residual_share: FloatArray) -> ResidualFlow:
    """The residual flow of new trips ``(periods, OD pairs)`` under ``residual_share``
    (one per period), by the recursion of the module doc."""
    periods = new_gv_veh_per_h.shape[0]
    carried_in = np.zeros_like(new_gv_veh_per_h)
    carried_out = np.zeros_like(new_gv_veh_per_h)
    for t in range(periods):
        on_network = new_gv_veh_per_h[t] + new_ev_veh_per_h[t] + carried_in[t]
        carried_out[t] = residual_share[t] * on_network
        if t + 1 < periods:
            carried_in[t + 1] = carried_out[t]
    finished = new_gv_veh_per_h + new_ev_veh_per_h + carried_in - carried_out
    return ResidualFlow(new_gv_veh_per_h.copy(), new_ev_veh_per_h.copy(), carried_in, finished,
                        carried_out)
