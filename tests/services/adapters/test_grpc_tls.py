"""Operators over mutual TLS: ``ptn serve --tls-dir`` and ``ptn coordinate --tls-dir``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ptn.coordinator.runtime.transports import CallFailedError, GrpcEndpoint
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import load_scenario
from ptn.services.adapters.grpc_server import start_server
from ptn.services.host import OperatorHost
from ptn.services.traffic.model import TrafficDepartmentModel

OPENSSL = shutil.which("openssl")


def _openssl(*arguments: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *arguments], check=True, capture_output=True)


def _certificate(directory: Path, name: str, ca: Path, ca_key: Path, san: str) -> None:
    key, request = directory / f"{name}.key", directory / f"{name}.csr"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request),
             "-subj", f"/CN={name}")
    extensions = directory / f"{name}.ext"
    extensions.write_text(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(directory / f"{name}.crt"), "-days", "2",
             "-extfile", str(extensions))


@pytest.mark.skipif(OPENSSL is None, reason="openssl is needed to make test certificates")
def test_mutual_tls(tmp_path: Path) -> None:
    ca, ca_key = tmp_path / "ca.crt", tmp_path / "ca.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out",
             str(ca), "-days", "2", "-subj", "/CN=ptn test CA")
    _certificate(tmp_path, "server", ca, ca_key, "IP:127.0.0.1,DNS:localhost")
    _certificate(tmp_path, "client", ca, ca_key, "DNS:coordinator")
    server_dir, client_dir, anonymous_dir = (tmp_path / d for d in ("s", "c", "a"))
    for directory, files in ((server_dir, ("server.crt", "server.key", "ca.crt")),
                             (client_dir, ("client.crt", "client.key", "ca.crt")),
                             (anonymous_dir, ("ca.crt",))):
        directory.mkdir()
        for file in files:
            shutil.copy(tmp_path / file, directory / file)
    host = OperatorHost(TrafficDepartmentModel.from_part(load_scenario().part("traffic")))
    server, port = start_server(host, "127.0.0.1:0", tls_dir=server_dir)
    request = common_pb2.DescribeRequest(header=common_pb2.RequestHeader(
        operator_id="traffic", request_id="tls-1"))
    try:
        trusted = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}", client_dir)
        reply = trusted.call("Describe", request, timeout_s=10)
        assert list(reply.info.stations) == ["cs6", "cs10", "cs11"]  # type: ignore[attr-defined]
        trusted.close()
        stranger = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}", anonymous_dir)
        with pytest.raises(CallFailedError):
            stranger.call("Describe", request, timeout_s=5)
        stranger.close()
    finally:
        server.stop(0)
