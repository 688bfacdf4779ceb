"""The project's coturn/turnserver.conf starts a real turnserver cleanly, on loopback, with our hardening."""

from __future__ import annotations

import re
import socket
import ssl
import struct
import time
from pathlib import Path

import pytest

from tests.e2e.server_process import tail
from tests.e2e.turn_kit import (
    ALLOCATE_ERROR,
    ALLOCATE_REQUEST,
    ATTR_ERROR_CODE,
    ATTR_REALM,
    ATTR_REQUESTED_TRANSPORT,
    ATTR_SOFTWARE,
    BINDING_REQUEST,
    BINDING_SUCCESS,
    CONF,
    HOST,
    parse_stun,
    running_turnserver,
    skip_without_turnserver,
    stun_message,
    turnserver_command,
    udp_request,
)

# Lines that mean the file was not understood or something failed to start.
BAD_LOG = re.compile(r"error|unknown option|unrecognized option|bad configuration|cannot", re.IGNORECASE)

pytestmark = [pytest.mark.slow, skip_without_turnserver]


def test_turnserver_starts_with_project_config(tmp_path: Path) -> None:
    assert CONF.is_file(), f"{CONF} is missing"
    command, port = turnserver_command(tmp_path, "test-secret", "test.invalid")
    tls_port = int(next(a for a in command if a.startswith("--tls-listening-port=")).partition("=")[2])
    log_path = tmp_path / "turnserver.log"
    with running_turnserver(tmp_path, command, port) as proc:
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
        request, transaction = stun_message(BINDING_REQUEST)
        message_type, echoed, attributes = parse_stun(udp_request(port, request))
        assert (message_type, echoed) == (BINDING_SUCCESS, transaction)
        assert ATTR_SOFTWARE not in attributes

        # TURN needs credentials (use-auth-secret): an unauthenticated Allocate gets 401 with our realm.
        requested_udp = struct.pack("!HHI", ATTR_REQUESTED_TRANSPORT, 4, 17 << 24)
        request, transaction = stun_message(ALLOCATE_REQUEST, requested_udp)
        message_type, echoed, attributes = parse_stun(udp_request(port, request))
        assert (message_type, echoed) == (ALLOCATE_ERROR, transaction)
        error = attributes[ATTR_ERROR_CODE]
        assert error[2] * 100 + error[3] == 401
        assert attributes[ATTR_REALM] == b"test.invalid"
        assert proc.poll() is None, f"turnserver died:\n{tail(log_path)}"

    text = log_path.read_text(errors="replace")
    bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
    assert not bad, "turnserver complained about its configuration:\n" + "\n".join(bad)
    # The hardening lines really took effect.
    assert "Black listing: 10.0.0.0-10.255.255.255" in text
    assert "RFC5780 disabled" in text
