"""Adversarial batteries: seeded corruptions of checkpoints and fuzzed messages to operators.

Why this package exists: the claims that a damaged checkpoint is refused with one clear error and
that no message from the network crashes, hangs or changes an operator are only as good as the
attacks tried on them. These are the experimenter's tools (bench/fuzz.py,
bench/checkpoint_corruption.py and their short CI versions), not product runtime.
"""
