"""The traffic department's engine: road networks, link costs and traffic equilibria.

Public entry points:

* :func:`engines.traffic.tntp.read_tntp_network` and :func:`engines.traffic.builtin.nguyen_dupuis`
  load a :class:`engines.traffic.network.RoadNetwork`;
* :func:`engines.traffic.assignment.solve_user_equilibrium` solves the deterministic UE of an
  :class:`engines.traffic.problem.AssignmentProblem`;
* :func:`engines.traffic.sue.solve_stochastic_equilibrium` solves the logit SUE;
* :mod:`engines.traffic.charging` and :mod:`engines.traffic.multiperiod` build the problems with
  charging stations and with departure-time shifting over several periods.
"""
