"""The host's typed bindings: per role, each RPC of its service decoded into domain values,
answered by the role's Protocol, and encoded back (the only code between protobuf and models)."""
