"""Thin transport adapters around :class:`services.host.OperatorHost` (gRPC server, Ray actor)."""
