"""Models that hold both networks at once: full-information references for the negotiation.

Public entry point:

* :func:`engines.coupled.centralized.solve_joint_min_cost` solves the joint minimum-cost
  traffic–power problem (MODELS.md §5) in one convex model, returning a
  :class:`engines.coupled.centralized.JointSolution` to compare a negotiated outcome against.
"""
