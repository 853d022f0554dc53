"""``ptn.coordinator``: the coordinator's side of a negotiation.

* :mod:`~ptn.coordinator.runtime`: the driver loop, transports, backends, metrics;
* :mod:`~ptn.coordinator.mechanisms`: ADMM, the pricing game and profit sharing over the driver;
* :mod:`~ptn.coordinator.results`: results folders, summaries and plots;
* :mod:`~ptn.coordinator.outcome`: what a negotiation produces.
"""
