"""The DSO's OPF inside a joint traffic–power model, tied to the traffic side's station flows.

Why this module exists: every full-information model of the coupled system holds the DSO's
DistFlow OPF (:meth:`ptn.engines.power.distflow.DistFlowOpf.embedding`, charging priced) next to
a traffic program and ties them by MODELS.md §5's coupling

    P[s, t] = E_B · x[station s's charging link in period t]   (MW),

the joint UE reference (:mod:`ptn.lab.references.centralized`), the joint SUE reference
(:mod:`ptn.lab.references.centralized_sue`) and the hosting study's feasibility check
(:func:`ptn.lab.references.hosting.joint_feasibility`). This is that embedding and coupling,
once, with the prices read from the coupling's multipliers and the exactness of the OPF read
back from a joint solution. Charging points and stations are matched by name
(:func:`ptn.lab.references.centralized.check_joint_inputs` checks that they match).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf, OpfEmbedding
from ptn.engines.power.result import OpfResult, OpfStatus
from ptn.engines.traffic.multiperiod import MultiPeriodProblem
from ptn.engines.traffic.network import FloatArray, IntArray


@dataclass(frozen=True)
class DsoCoupling:
    """The DSO's OPF embedded in a joint model and tied to the traffic side's station flows.

    ``constraint`` is ``vec(P, "F") == E_B · x[charging links]`` (row ``t·C + c``: charging point
    ``c`` of the OPF in period ``t``); ``station_of_point[c]`` is that point's position among the
    traffic model's stations.
    """

    opf: DistFlowOpf
    embedding: OpfEmbedding
    constraint: cp.Constraint
    station_of_point: IntArray
    period_hours: float

    def price_per_mwh(self) -> FloatArray:
        """The coupling multipliers after a solve as prices ($/MWh), shape (stations, periods)
        in the traffic model's station order: the multiplier of ``P − E_B·x = 0`` is minus
        d(total cost)/d(load) in $/MW per period."""
        points = self.station_of_point.size
        dual = np.asarray(self.constraint.dual_value, dtype=np.float64).reshape(-1, points).T
        price = np.empty_like(dual)
        price[self.station_of_point] = -dual / self.period_hours
        return price


def couple_dso(traffic: MultiPeriodProblem, case: DsoCase, link_flow: cp.Expression,
               solver: str = "CLARABEL",
               solver_options: dict[str, Any] | None = None) -> DsoCoupling:
    """Embed ``case``'s OPF (charging priced; ``solver`` and ``solver_options`` as
    :class:`~ptn.engines.power.distflow.DistFlowOpf`'s) and couple each charging point's load
    to ``E_B`` × the flow of the same-named station's charging link in ``link_flow`` (veh/h
    over the links of ``traffic.problem``)."""
    charging = traffic.spec.charging
    opf = DistFlowOpf(case, charging="priced", solver=solver, solver_options=solver_options)
    dso = opf.embedding()
    station_of_point = np.array([charging.station_names.index(name)
                                 for name in opf.charging_names], dtype=np.int64)
    # coupling rows in the order of vec(P, "F"): row t·C + c is point c in period t
    coupled_link = traffic.station_links()[:, station_of_point].reshape(-1)
    selector = sp.csr_matrix(
        (np.ones(coupled_link.size), (np.arange(coupled_link.size), coupled_link)),
        shape=(coupled_link.size, traffic.problem.num_links),
    )
    energy = charging.energy_per_charge_mwh
    constraint = cp.vec(dso.charging_mw, order="F") == energy * (selector @ link_flow)
    return DsoCoupling(opf, dso, constraint, station_of_point, case.period_hours)


def dispatch_notes(dispatch: OpfResult) -> tuple[bool, list[str]]:
    """Whether the OPF read from a joint solution has an exact relaxation, and if not why."""
    exact = dispatch.status == OpfStatus.OPTIMAL
    return exact, ([] if exact else [dispatch.message])
