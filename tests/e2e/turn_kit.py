"""Running Debian's coturn with the project's coturn/turnserver.conf on loopback, and speaking STUN/TURN to it."""

from __future__ import annotations

import contextlib
import datetime
import os
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server_process import REPO_ROOT, free_port, free_udp_port, stop_process, tail

CONF = REPO_ROOT / "coturn" / "turnserver.conf"
TURNSERVER = shutil.which("turnserver")
HOST = "127.0.0.1"

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
ALLOCATE_REQUEST, ALLOCATE_SUCCESS, ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
ATTR_USERNAME, ATTR_MESSAGE_INTEGRITY, ATTR_ERROR_CODE = 0x0006, 0x0008, 0x0009
ATTR_REALM, ATTR_NONCE, ATTR_REQUESTED_TRANSPORT, ATTR_SOFTWARE = 0x0014, 0x0015, 0x0019, 0x8022

skip_without_turnserver = pytest.mark.skipif(
    TURNSERVER is None and not os.environ.get("CI"),
    reason="turnserver (coturn) is not installed; CI installs it",
)


def require_turnserver() -> str:
    if TURNSERVER is None:
        pytest.fail("CI is set but `turnserver` is not on PATH: install coturn (apt-get install coturn)")
    return TURNSERVER


def write_self_signed(tmp_path: Path) -> tuple[Path, Path]:
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


def stun_message(message_type: int, attributes: bytes = b"") -> tuple[bytes, bytes]:
    transaction = secrets.token_bytes(12)
    header = struct.pack("!HHI", message_type, len(attributes), MAGIC_COOKIE) + transaction
    return header + attributes, transaction


def parse_stun(data: bytes) -> tuple[int, bytes, dict[int, bytes]]:
    message_type, length, cookie = struct.unpack("!HHI", data[:8])
    assert cookie == MAGIC_COOKIE, data
    attributes: dict[int, bytes] = {}
    body, offset = data[20 : 20 + length], 0
    while offset + 4 <= len(body):
        kind, size = struct.unpack("!HH", body[offset : offset + 4])
        attributes[kind] = body[offset + 4 : offset + 4 + size]
        offset += 4 + size + (-size % 4)
    return message_type, data[8:20], attributes


def udp_request(port: int, message: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(message, (HOST, port))
        data, _ = sock.recvfrom(2048)
        return data


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"turnserver did not listen on port {port} within {timeout} s")


@contextlib.contextmanager
def running_turnserver(tmp_path: Path, command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """coturn started with `command` (its output in tmp_path/turnserver.log), listening; stopped afterwards."""
    log_path = tmp_path / "turnserver.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        assert proc.poll() is None, f"turnserver exited with {proc.returncode}:\n{tail(log_path)}"
        yield proc
    finally:
        stop_process(proc)


def free_udp_range(count: int, attempts: int = 50) -> int:
    """The first of `count` consecutive UDP ports on loopback that nobody is bound to right now."""
    for _ in range(attempts):
        first = free_udp_port()
        if first + count > 65536:
            continue
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    sock.bind((HOST, port))
            except OSError:
                continue
            return first
    pytest.fail(f"no {count} consecutive free UDP ports on {HOST}")


def turnserver_command(
    tmp_path: Path, secret: str, realm: str, relay_ports: int = 1, extra: tuple[str, ...] = ()
) -> tuple[list[str], int]:
    """The command that starts coturn with the project's file on loopback ports, and its UDP/TCP port. Each
    allocation takes one of `relay_ports` relay ports; `extra` options come last, so they override the file."""
    cert, key = write_self_signed(tmp_path)
    port = free_port()
    tls_port = free_port()
    while tls_port == port:
        tls_port = free_port()
    relay = free_udp_range(relay_ports)  # the relay range must be free on loopback
    command = [
        require_turnserver(),
        "-c", str(CONF),
        f"--static-auth-secret={secret}",
        f"--listening-ip={HOST}",
        f"--listening-port={port}",
        f"--tls-listening-port={tls_port}",
        f"--relay-ip={HOST}",
        f"--min-port={relay}",
        f"--max-port={relay + relay_ports - 1}",
        f"--cert={cert}",
        f"--pkey={key}",
        f"--pidfile={tmp_path / 'turnserver.pid'}",
        f"--db={tmp_path / 'turndb'}",
        f"--realm={realm}",
        *extra,
    ]  # fmt: skip
    return command, port


def attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)
