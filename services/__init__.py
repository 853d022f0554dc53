"""Operators: each one a pure model built from its private data, behind a host and thin adapters.

Per role (``dso``, ``traffic``, ``tno``, ``cno``) a subpackage holds its configuration reader,
its typed contract (a Protocol over domain values) and its model, which never imports protobuf,
grpc or ray; ``bindings`` and ``host`` alone speak the ``negotiation.v1`` schema, ``hosting`` is
the registry of roles, ``adapters`` move bytes over gRPC and Ray (docs/operators.md).
"""
