"""Game engines of ptn: the players' decisions in seed 001's charging price game (MODELS.md §3).

Pure numerics like the rest of :mod:`engines`: no grpc or ray; a remote party answers the probes.
"""
