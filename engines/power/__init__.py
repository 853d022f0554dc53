"""The DSO's engine: radial feeders, a multi-period DistFlow OPF with DER, DLMPs and checks.

Public entry points:

* :func:`ptn.engines.power.builtin_feeders.load_feeder` loads a
  :class:`ptn.engines.power.feeder.Feeder`
  (built-in IEEE/MATPOWER cases, a pandapower net or a MATPOWER case file);
* :class:`ptn.engines.power.der.DsoCase` gathers feeders, DER, charging points and prices;
* :class:`ptn.engines.power.distflow.DistFlowOpf` builds the SOC-relaxed OPF once and re-solves it
  with new prices, charging loads or ADMM terms, returning an
  :class:`ptn.engines.power.result.OpfResult`;
* :mod:`ptn.engines.power.exactness` checks a dispatch with an AC power flow.
"""
