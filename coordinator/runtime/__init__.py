"""The negotiation runtime: the driver loop, transports, backends, process launcher, metrics.

It speaks to operators only through ``negotiation.v1`` messages (:mod:`ptn.protocol`); it never
imports an operator's model or its configuration (the in-process and Ray backends build hosts
through :mod:`ptn.services.hosting`).
"""
