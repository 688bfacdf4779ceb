"""The project's coturn/turnserver.conf starts a real turnserver cleanly, on loopback, with our hardening."""

from __future__ import annotations

import datetime
import os
import re
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.server_process import REPO_ROOT, free_port, free_udp_port, stop_process, tail

CONF = REPO_ROOT / "coturn" / "turnserver.conf"
TURNSERVER = shutil.which("turnserver")
HOST = "127.0.0.1"

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
ALLOCATE_REQUEST, ALLOCATE_ERROR = 0x0003, 0x0113
ATTR_ERROR_CODE, ATTR_REALM, ATTR_REQUESTED_TRANSPORT, ATTR_SOFTWARE = 0x0009, 0x0014, 0x0019, 0x8022
# Lines that mean the file was not understood or something failed to start.
BAD_LOG = re.compile(r"error|unknown option|unrecognized option|bad configuration|cannot", re.IGNORECASE)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        TURNSERVER is None and not os.environ.get("CI"),
        reason="turnserver (coturn) is not installed; CI installs it",
    ),
]


def _require_turnserver() -> str:
    if TURNSERVER is None:
        pytest.fail("CI is set but `turnserver` is not on PATH: install coturn (apt-get install coturn)")
    return TURNSERVER


def _write_self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate, so the TLS/DTLS listeners (and no-tlsv1*, cipher-list) are exercised too."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _stun(message_type: int, attributes: bytes = b"") -> tuple[bytes, bytes]:
    transaction = secrets.token_bytes(12)
    header = struct.pack("!HHI", message_type, len(attributes), MAGIC_COOKIE) + transaction
    return header + attributes, transaction


def _parse_stun(data: bytes) -> tuple[int, bytes, dict[int, bytes]]:
    message_type, length, cookie = struct.unpack("!HHI", data[:8])
    assert cookie == MAGIC_COOKIE, data
    attributes: dict[int, bytes] = {}
    body, offset = data[20 : 20 + length], 0
    while offset + 4 <= len(body):
        kind, size = struct.unpack("!HH", body[offset : offset + 4])
        attributes[kind] = body[offset + 4 : offset + 4 + size]
        offset += 4 + size + (-size % 4)
    return message_type, data[8:20], attributes


def _udp_request(port: int, message: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(message, (HOST, port))
        data, _ = sock.recvfrom(2048)
        return data


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)


def test_turnserver_starts_with_project_config(tmp_path: Path) -> None:
    turnserver = _require_turnserver()
    assert CONF.is_file(), f"{CONF} is missing"
    cert, key = _write_self_signed(tmp_path)
    port = free_port()
    tls_port = free_port()
    while tls_port == port:
        tls_port = free_port()
    # The relay range must be free on loopback; a handful of ports is enough for one test.
    relay = free_udp_port()
    log_path = tmp_path / "turnserver.log"
    command = [
        turnserver,
        "-c", str(CONF),
        "--static-auth-secret=test-secret",
        f"--listening-ip={HOST}",
        f"--listening-port={port}",
        f"--tls-listening-port={tls_port}",
        f"--relay-ip={HOST}",
        f"--min-port={relay}",
        f"--max-port={relay}",
        f"--cert={cert}",
        f"--pkey={key}",
        f"--pidfile={tmp_path / 'turnserver.pid'}",
        f"--db={tmp_path / 'turndb'}",
        "--realm=test.invalid",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        assert proc.poll() is None, f"turnserver exited with {proc.returncode}:\n{tail(log_path)}"
        time.sleep(1.0)  # let it finish starting and log everything it is going to complain about

        # TCP: plain and TLS listeners accept connections.
        with socket.create_connection((HOST, port), timeout=2):
            pass
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        with socket.create_connection((HOST, tls_port), timeout=2) as raw, tls.wrap_socket(raw) as wrapped:
            assert wrapped.version() in ("TLSv1.2", "TLSv1.3"), wrapped.version()

        # UDP: an (anonymous) STUN binding request is answered, without the software name.
        request, transaction = _stun(BINDING_REQUEST)
        message_type, echoed, attributes = _parse_stun(_udp_request(port, request))
        assert (message_type, echoed) == (BINDING_SUCCESS, transaction)
        assert ATTR_SOFTWARE not in attributes

        # TURN needs credentials (use-auth-secret): an unauthenticated Allocate gets 401 with our realm.
        requested_udp = struct.pack("!HHI", ATTR_REQUESTED_TRANSPORT, 4, 17 << 24)
        request, transaction = _stun(ALLOCATE_REQUEST, requested_udp)
        message_type, echoed, attributes = _parse_stun(_udp_request(port, request))
        assert (message_type, echoed) == (ALLOCATE_ERROR, transaction)
        error = attributes[ATTR_ERROR_CODE]
        assert error[2] * 100 + error[3] == 401
        assert attributes[ATTR_REALM] == b"test.invalid"
        assert proc.poll() is None, f"turnserver died:\n{tail(log_path)}"
    finally:
        stop_process(proc)

    text = log_path.read_text(errors="replace")
    bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
    assert not bad, "turnserver complained about its configuration:\n" + "\n".join(bad)
    # The hardening lines really took effect.
    assert "Black listing: 10.0.0.0-10.255.255.255" in text
    assert "RFC5780 disabled" in text
