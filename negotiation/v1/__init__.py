"""negotiation.v1: generated message and service code (do not edit; see ptn.protocol)."""
