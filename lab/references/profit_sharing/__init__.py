"""Full-information references for seed 000's profit sharing: follower, ties, sweep, bilevel KKT.

Why this package exists: in seed 000 ("A Profit Sharing Mechanism for Coordinated Power Traffic
System"; MODELS.md §4) the DNO (leader) offers the TNO (follower) a share ρ of the dispatch cost the
TNO's rescheduling saves it. ptn negotiates this privately
(:mod:`ptn.coordinator.mechanisms.profit_sharing`: ADMM per share, a sweep and a branch and bound
over ρ). The paper's referee asks two things this package answers with both models in one hand:

1. *Ties*: the follower's problem is an LP here (linear fleet model, LinDistFlow with linear
   costs), so it may have many optima; which one the follower picks changes the leader's cost.
2. *Global optimality*: is the ρ* found the global minimum of the leader's cost? (an exhaustive
   sweep of ρ against a bilevel solution).

The game (notation of :mod:`ptn.coordinator.mechanisms.profit_sharing`): prescheduling, the TNO
plans alone (x0, :meth:`ptn.engines.fleet.charging_plan.FleetChargingModel.plan`) and the DNO
dispatches it: ``C0 = C_DSO(x0)``. At a share ρ the follower solves ``min_x C_TNO(x) + ρ·C_DSO(x)``
with ``C_DSO(x)`` the OPF's optimal cost at x's station loads (a value function); jointly, ``min
over (x, y) of C_TNO(x) + ρ·cost(y)`` with y a dispatch feasible for x's loads. The leader minimizes
``L(ρ) = C_DSO(x*(ρ)) + ρ·(C0 − C_DSO(x*(ρ)))`` over ρ ∈ [0, 1].

Two modelling stacks, one module a job:

* :mod:`~ptn.lab.references.profit_sharing.game`: what both stacks share: stations matched to
  charging points (:func:`~ptn.lab.references.profit_sharing.game.point_of_station`), stage 1
  (:func:`~ptn.lab.references.profit_sharing.game.preschedule`: the TNO's plan alone and the
  DSO's dispatch of it, C0) and the leader's cost.
* :mod:`~ptn.lab.references.profit_sharing.follower` (cvxpy): the follower's joint problem and its
  optimistic and pessimistic tie selections
  (:class:`~ptn.lab.references.profit_sharing.follower.FollowerModel`,
  :func:`~ptn.lab.references.profit_sharing.follower.solve_follower`).
* :mod:`~ptn.lab.references.profit_sharing.sweep` (cvxpy): the leader's cost over a grid of
  shares and the exact breakpoints of the follower's response between them
  (:func:`~ptn.lab.references.profit_sharing.sweep.sweep`).
* :mod:`~ptn.lab.references.profit_sharing.fleet_lp` (Pyomo): the fleet LP written again in
  Pyomo, the TNO's half of the KKT reference's follower.
* :mod:`~ptn.lab.references.profit_sharing.kkt` (Pyomo + SCIP): the optimistic bilevel problem by
  KKT reformulation (:func:`~ptn.lab.references.profit_sharing.kkt.solve_bilevel_kkt`).
* :mod:`~ptn.lab.references.profit_sharing.horizon`: both cases cut to a window of periods
  (:func:`~ptn.lab.references.profit_sharing.horizon.slice_horizon`), the instances on which SCIP
  proves the KKT optimum in seconds.

Measured on ``profit-sharing-seed000`` (24 h): C0 = 5772.404 $; the follower's response has 22
breakpoints in (0, 1), rationals of the integer prices (1/8, 6/35, 2/5, ...), seven of them
on the 1e-3 grid; the optimistic optimum is at the breakpoint ρ = 1/8, L = 5648.970 $, where
the follower's C_DSO tie is 6.14 $ wide (pessimistic L there 5654.342 $); the next tooth of
the sawtooth is ρ = 6/35, L = 5649.063 $. The private search's ρ* = 0.12578 (L = 5649.081 $)
lies 7.8e-4 right of the optimum, within its tolerance of 1e-3.

With the per-bus MILP fleet (``FleetCase.fleet_model = "bus-mip"``, issue 17) the follower and
the sweep run as they are (SCIP solves the joint MILP; the breakpoint search stays exact) and
the KKT reference refuses the case: ρ* = 1/5, L = 5664.698 $ against C0 = 5779.640 $ (41 shares
and 47 breakpoints, ``python -m bench.profit_sharing --fleet-models 41``).

Units: $ over the horizon, MW, shares in [0, 1]. Invalid input raises
:class:`~ptn.engines.errors.InvalidInputError`; solver trouble is a status in the result.
"""
