"""A certificate authority and one certificate per party, for a test deployment's mutual TLS.

Why this module exists: the gRPC boundary authorizes by identity (:mod:`ptn.services.adapters.
identity`), so every party needs a certificate that carries its identity, signed by a CA that all
of them trust. This module makes them with the ``cryptography`` package in the layout that
``ptn serve --tls-dir`` and ``ptn coordinate --tls-dir`` read::

    DIR/ca.crt, DIR/ca.key                          the CA (keep ca.key off the parties' machines)
    DIR/coordinator/{ca.crt,client.crt,client.key}  SAN URI ptn://coordinator
    DIR/<operator_id>/{ca.crt,server.crt,server.key}
        SAN URI ptn://operator/<operator_id>, DNS <operator_id>.operator.ptn (what the coordinator
        verifies), <operator_id> and localhost (for health probes and tools)

Test-deployment grade: ECDSA P-256 keys written unencrypted (mode 0600), one flat CA without
revocation. A production deployment issues the same SANs from its own PKI.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ptn.engines.errors import InvalidInputError
from ptn.services.adapters.identity import (
    COORDINATOR_IDENTITY,
    check_operator_id,
    operator_dns_name,
    operator_identity,
)

DEFAULT_VALIDITY_DAYS = 365
#: the files of a party's directory
CA_FILE, CA_KEY_FILE = "ca.crt", "ca.key"


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate and private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    """A party's certificate and private key, as PEM bytes."""

    certificate_pem: bytes
    key_pem: bytes


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    if days < 1:
        raise InvalidInputError(f"--days {days}: a certificate must be valid for at least a day")
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def make_authority(name: str = "ptn test CA", days: int = DEFAULT_VALIDITY_DAYS) -> Authority:
    """A self-signed CA that may sign end-entity certificates only (path length 0)."""
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    not_before, not_after = _validity(days)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


def issue(authority: Authority, identity: str, *, server: bool, dns_names: Iterable[str] = (),
          ip_addresses: Iterable[str] = (), days: int = DEFAULT_VALIDITY_DAYS) -> Issued:
    """A certificate for ``identity`` (its SAN URI) signed by ``authority``: a TLS server's
    (``server=True``) or a TLS client's."""
    key = new_key()
    not_before, not_after = _validity(days)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity)]
    names += [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            authority.key.public_key()), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    return Issued(certificate_pem(certificate), key_pem(key))


def issue_coordinator(authority: Authority, days: int = DEFAULT_VALIDITY_DAYS) -> Issued:
    """The coordinator's client certificate (SAN URI ``ptn://coordinator``)."""
    return issue(authority, COORDINATOR_IDENTITY, server=False, days=days)


def issue_operator(authority: Authority, operator_id: str,
                   days: int = DEFAULT_VALIDITY_DAYS) -> Issued:
    """An operator's server certificate: its identity URI, the DNS name the coordinator
    verifies, its bare id (a compose/Kubernetes service name) and localhost."""
    return issue(authority, operator_identity(operator_id), server=True,
                 dns_names=(operator_dns_name(operator_id), operator_id.lower(), "localhost"),
                 ip_addresses=("127.0.0.1",), days=days)


def write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (0600 from creation on)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)


def write_party(directory: Path, authority: Authority, name: str, issued: Issued) -> None:
    """``directory`` with ``ca.crt``, ``<name>.crt`` and ``<name>.key``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CA_FILE).write_bytes(certificate_pem(authority.certificate))
    (directory / f"{name}.crt").write_bytes(issued.certificate_pem)
    write_private(directory / f"{name}.key", issued.key_pem)


def load_authority(directory: Path) -> Authority:
    """The CA of an earlier ``ptn certs DIR`` (to issue more operators with it)."""
    try:
        certificate = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), None)
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"{directory}: cannot read the CA ({error})") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidInputError(f"{directory / CA_KEY_FILE}: not an ECDSA key")
    return Authority(certificate, key)


def make_certificates(directory: Path, operator_ids: Iterable[str], *, force: bool = False,
                      reuse_authority: bool = False,
                      days: int = DEFAULT_VALIDITY_DAYS) -> list[Path]:
    """A CA in ``directory`` and the coordinator's and each operator's folder; the folders
    written. An existing CA is refused unless ``force`` (a new CA) or ``reuse_authority``
    (issue with it)."""
    directory = Path(directory)
    _validity(days)
    ids = [check_operator_id(operator_id) for operator_id in operator_ids]
    if not ids:
        raise InvalidInputError("no operator to certify: give --operator ID or --scenario")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidInputError(f"operator {duplicates[0]!r} given twice")
    if "coordinator" in ids:
        raise InvalidInputError("an operator cannot be called 'coordinator' (its folder is the "
                                "coordinator's)")
    exists = (directory / CA_FILE).exists() or (directory / CA_KEY_FILE).exists()
    if exists and reuse_authority:
        authority = load_authority(directory)
    elif exists and not force:
        raise InvalidInputError(f"{directory} already holds a CA (ca.crt/ca.key): pass --force "
                                f"to replace it (every party then needs new certificates)")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        authority = make_authority(days=days)
        (directory / CA_FILE).write_bytes(certificate_pem(authority.certificate))
        write_private(directory / CA_KEY_FILE, key_pem(authority.key))
    written = [directory / "coordinator"]
    write_party(written[0], authority, "client", issue_coordinator(authority, days))
    for operator_id in ids:
        written.append(directory / operator_id)
        write_party(written[-1], authority, "server", issue_operator(authority, operator_id, days))
    return written
