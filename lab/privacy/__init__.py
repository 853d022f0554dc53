"""An honest-but-curious adversary battery: what each operator can infer from the messages.

Why this package exists: ptn's privacy is data minimization (only prices, offers and aggregate
station loads cross), but the *sequence* of messages can still reveal private data (issue 20).
Each attack here is one adversary, written against what it saw (:mod:`ptn.lab.privacy.views`,
built from the coordinator's record of the messages), and scored against the truth that only
the experimenter holds (:mod:`ptn.lab.privacy.truth`, full information):

* :mod:`~ptn.lab.privacy.response_fit` — the DSO reconstructs the traffic department's
  station load response (hourly EV demand, price elasticity) from the ADMM rounds;
* :mod:`~ptn.lab.privacy.feeder_limits` — the traffic department infers the DSO's binding
  feeder limits and its upstream tariff from the consensus prices;
* :mod:`~ptn.lab.privacy.price_bounds` — a CNO infers another CNO's price bounds and
  marginal cost from the pricing game.

:mod:`~ptn.lab.privacy.audit` runs a scenario and every attack that applies to its mechanism
(``ptn privacy audit SCENARIO``); docs/privacy.md is the leakage analysis.
"""
