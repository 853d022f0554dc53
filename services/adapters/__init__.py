"""Thin transport adapters around :class:`ptn.services.host.OperatorHost` (gRPC server,
Ray actor)."""
