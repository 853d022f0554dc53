"""Operators: each one a pure model built from its private data, plus thin transport adapters.

One subpackage per role (dso, traffic, tno, cno) arrives with the negotiation runtime; models here
never import grpc or ray.
"""
