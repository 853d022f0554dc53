"""``ptn certs`` and mutual TLS: the certificates it writes, checked by openssl, and used by an
operator's server and the coordinator's endpoint."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptn.cli.app import app
from ptn.coordinator.runtime.transports import CallFailedError, GrpcEndpoint
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import load_scenario
from ptn.services.adapters.grpc_server import start_server
from ptn.services.host import OperatorHost
from ptn.services.traffic.model import TrafficDepartmentModel

OPENSSL = shutil.which("openssl")
runner = CliRunner()


def openssl(*arguments: str) -> str:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *arguments], check=True, capture_output=True,
                          text=True).stdout


def ptn_certs(*arguments: str) -> tuple[int, str]:
    result = runner.invoke(app, ["certs", *arguments])
    return result.exit_code, result.output


def test_ptn_certs_writes_the_layout_with_private_keys(tmp_path: Path) -> None:
    code, output = ptn_certs(str(tmp_path), "--scenario", "pricing-seed001",
                             "--operator", "dso=dso")
    assert code == 0, output
    parties = ["coordinator", "dso", "traffic", "cno1", "cno2", "cno-alliance"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ca.crt", "ca.key", *parties])
    assert "cno-alliance/: ptn://operator/cno-alliance" in output
    assert sorted(p.name for p in (tmp_path / "coordinator").iterdir()) == [
        "ca.crt", "client.crt", "client.key"]
    for party in parties[1:]:
        assert sorted(p.name for p in (tmp_path / party).iterdir()) == [
            "ca.crt", "server.crt", "server.key"]
    for key in [tmp_path / "ca.key", tmp_path / "coordinator" / "client.key",
                *(tmp_path / party / "server.key" for party in parties[1:])]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


@pytest.mark.skipif(OPENSSL is None, reason="openssl checks the certificates independently")
def test_openssl_reads_the_identities_and_verifies_the_chain(tmp_path: Path) -> None:
    code, output = ptn_certs(str(tmp_path), "--operator", "traffic", "--operator", "cno1=cno")
    assert code == 0, output
    ca = str(tmp_path / "ca.crt")
    for certificate, purpose, names in (
            (tmp_path / "coordinator" / "client.crt", "sslclient", ["URI:ptn://coordinator"]),
            (tmp_path / "traffic" / "server.crt", "sslserver",
             ["URI:ptn://operator/traffic", "DNS:traffic.operator.ptn", "DNS:localhost"]),
            (tmp_path / "cno1" / "server.crt", "sslserver",
             ["URI:ptn://operator/cno1", "DNS:cno1.operator.ptn"])):
        assert openssl("verify", "-purpose", purpose, "-CAfile", ca,
                       str(certificate)).strip().endswith("OK")
        text = openssl("x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName")
        for name in names:
            assert name in text, (certificate, text)
    # the coordinator's certificate is not a server's, an operator's not a client's
    with pytest.raises(subprocess.CalledProcessError):
        openssl("verify", "-purpose", "sslserver", "-CAfile", ca,
                str(tmp_path / "coordinator" / "client.crt"))


def test_ptn_certs_refuses_to_replace_a_ca_without_force(tmp_path: Path) -> None:
    assert ptn_certs(str(tmp_path), "--operator", "dso")[0] == 0
    first = (tmp_path / "ca.crt").read_bytes()
    code, output = ptn_certs(str(tmp_path), "--operator", "dso")
    assert code == 2
    assert "already holds a CA" in output and "--force" in output
    assert (tmp_path / "ca.crt").read_bytes() == first
    assert ptn_certs(str(tmp_path), "--operator", "tno", "--reuse-ca")[0] == 0
    assert (tmp_path / "ca.crt").read_bytes() == first
    assert (tmp_path / "tno" / "server.crt").exists()
    assert ptn_certs(str(tmp_path), "--operator", "dso", "--force")[0] == 0
    assert (tmp_path / "ca.crt").read_bytes() != first


@pytest.mark.parametrize(("arguments", "message"), [
    (["--operator", "dso=bank"], "ROLE one of dso, traffic, tno, cno"),
    (["--operator", "bad_id!"], "cannot name a certificate"),
    (["--operator", "coordinator"], "cannot be called 'coordinator'"),
    ([], "no operator to certify"),
    (["--scenario", "pricing-seed001", "--operator", "dso=cno"], "the scenario's dso is a dso"),
    (["--operator", "dso", "--days", "0"], "at least a day"),
])
def test_ptn_certs_names_bad_input(tmp_path: Path, arguments: list[str], message: str) -> None:
    code, output = ptn_certs(str(tmp_path / "certs"), *arguments)
    assert code == 2
    assert message in output


def test_mutual_tls_with_ptn_certs(tmp_path: Path) -> None:
    assert ptn_certs(str(tmp_path), "--operator", "traffic")[0] == 0
    anonymous = tmp_path / "anonymous"
    anonymous.mkdir()
    shutil.copy(tmp_path / "ca.crt", anonymous / "ca.crt")
    host = OperatorHost(TrafficDepartmentModel.from_part(load_scenario().part("traffic")))
    server, port = start_server(host, "127.0.0.1:0", tls_dir=tmp_path / "traffic")
    request = common_pb2.DescribeRequest(header=common_pb2.RequestHeader(
        operator_id="traffic", request_id="tls-1"))
    try:
        trusted = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}", tmp_path / "coordinator")
        reply = trusted.call("Describe", request, timeout_s=10)
        assert list(reply.info.stations) == ["cs6", "cs10", "cs11"]  # type: ignore[attr-defined]
        trusted.close()
        stranger = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}", anonymous)
        with pytest.raises(CallFailedError):
            stranger.call("Describe", request, timeout_s=5)
        stranger.close()
    finally:
        server.stop(0)
