"""Who a party is on the gRPC boundary: the identities that certificates carry, and reading them.

Why this module exists: mutual TLS proves that a peer holds a certificate the deployment's CA
signed, not which party it is. ptn ties a certificate to a party with a SAN URI: the coordinator
is ``ptn://coordinator``, an operator ``ptn://operator/<operator_id>``. An operator answers its
negotiation RPCs only when the caller's URI is the coordinator identity it trusts (``ptn serve
--trust``); the coordinator checks that a server is the operator it expects through TLS hostname
verification against the operator's DNS name ``<operator_id>.operator.ptn``, which ``ptn certs``
writes beside the URI in every operator's certificate (so a wrong certificate fails the handshake
itself). The same names are used by :mod:`ptn.services.adapters.certificates`, which makes them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cryptography import x509

from ptn.engines.errors import InvalidInputError

#: the identity an operator trusts for its negotiation RPCs unless told otherwise
COORDINATOR_IDENTITY = "ptn://coordinator"
#: the prefix of an operator's identity URI
OPERATOR_IDENTITY_PREFIX = "ptn://operator/"
#: the DNS suffix of the name that TLS verifies for an operator (``dso.operator.ptn``)
OPERATOR_DNS_SUFFIX = ".operator.ptn"

#: operator ids that fit a DNS label (they become ``<id>.operator.ptn``)
OPERATOR_ID_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_operator_id(operator_id: str) -> str:
    """``operator_id`` if it can name a certificate (a DNS label), else InvalidInputError."""
    if not OPERATOR_ID_PATTERN.fullmatch(operator_id):
        raise InvalidInputError(f"operator id {operator_id!r} cannot name a certificate: use "
                                f"letters, digits and inner hyphens (a DNS label)")
    return operator_id


def operator_identity(operator_id: str) -> str:
    """The SAN URI of an operator's certificate: ``ptn://operator/<operator_id>``."""
    return OPERATOR_IDENTITY_PREFIX + check_operator_id(operator_id)


def operator_dns_name(operator_id: str) -> str:
    """The DNS name TLS verifies for an operator: ``<operator_id>.operator.ptn``."""
    return check_operator_id(operator_id).lower() + OPERATOR_DNS_SUFFIX


@lru_cache(maxsize=256)
def certificate_uris(pem: bytes) -> frozenset[str]:
    """The SAN URIs of a PEM certificate (empty when it has none or does not parse); cached by
    the certificate's bytes, as a peer presents the same certificate on every call."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound):
        return frozenset()
    return frozenset(names.value.get_values_for_type(x509.UniformResourceIdentifier))
