"""The traffic department's engine: road networks, link costs and traffic equilibria.

Public entry points:

* :func:`ptn.engines.traffic.tntp.read_tntp_network` and
  :func:`ptn.engines.traffic.builtin.nguyen_dupuis` load a
  :class:`ptn.engines.traffic.network.RoadNetwork`;
* :func:`ptn.engines.traffic.assignment.solve_user_equilibrium` solves the deterministic UE of an
  :class:`ptn.engines.traffic.problem.AssignmentProblem`;
* :func:`ptn.engines.traffic.sue.solve_stochastic_equilibrium` solves the logit SUE;
* :mod:`ptn.engines.traffic.charging` and :mod:`ptn.engines.traffic.multiperiod` build the
  problems with charging stations and with departure-time shifting over several periods.
"""
