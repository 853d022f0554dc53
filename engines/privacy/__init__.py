"""Differential privacy for the operators' releases: noise, its calibration, its accounting.

Why this package exists: data minimization (only prices, offers and aggregate station loads
cross) does not stop the sequence of messages from revealing private data (issue 20). An
operator that owns a datum (the traffic department its station loads, the DSO and the CNOs their
prices) adds calibrated noise to it inside its own process, and an accountant bounds the privacy
lost over all rounds. Pure numpy/scipy: no transport is imported here; the mechanisms use it.

- :mod:`.sensitivity`: what a neighbouring dataset is (the adjacency) and the L1/L2
  sensitivities of a released (stations × periods) array under it;
- :mod:`.calibration`: Laplace scale, classic and analytic Gaussian σ, zCDP ρ;
- :mod:`.noise`: seeded, reproducible, independent noise streams and the release of an array;
- :mod:`.rdp`: Rényi DP curves of the rounds and their conversion to (ε, δ);
- :mod:`.accountant`: basic, advanced, zCDP and RDP composition over the rounds, with a budget;
- :mod:`.settings`: the validated ``[privacy]`` scenario table and its split over the rounds;
- :mod:`.release`: one operator's releases of one datum (plan, stream and accountant together).

docs/privacy-mechanisms.md states the formulas, their sources and what is (not) guaranteed.
"""

from __future__ import annotations
