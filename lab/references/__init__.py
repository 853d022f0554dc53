"""Models that hold both networks at once: full-information references for the negotiation.

Public entry points:

* :func:`ptn.lab.references.centralized.solve_joint_min_cost` solves the joint minimum-cost
  traffic–power problem (MODELS.md §5) in one convex model, returning a
  :class:`ptn.lab.references.centralized.JointSolution` to compare a negotiated outcome against.
* :func:`ptn.lab.references.centralized_sue.solve_joint_sue_min_cost`: the same joint problem with
  logit stochastic user equilibrium traffic (seed 002): Fisk's potential plus the OPF.
* :func:`ptn.lab.references.hosting.hosting_capacity`: the EV hosting capacity of the
  uncoordinated and the coordinated operation (seed 003), by bisection on the EV demand.
* :mod:`ptn.lab.references.profit_sharing` holds seed 000's DNO–TNO profit sharing (MODELS.md §4)
  in full information: the follower's joint problem with its optimistic and pessimistic ties
  (:func:`~ptn.lab.references.profit_sharing.follower.solve_follower`), the exhaustive sweep of
  the share with the exact breakpoints (:func:`~ptn.lab.references.profit_sharing.sweep.sweep`)
  and the bilevel problem by KKT reformulation for SCIP
  (:func:`~ptn.lab.references.profit_sharing.kkt.solve_bilevel_kkt`).

What the joint references share: the DSO's OPF coupled to the traffic side's station flows
(:mod:`ptn.lab.references.dso_coupling`) and the solver settings tried in turn
(:mod:`ptn.lab.references.solver_attempts`).
"""
