"""Calls in the OpenAPI document: server/calls/routes.py."""

from __future__ import annotations

from server.web.apidoc.kit import INTEGER, JSON, STRING, ApiBook, array, obj, reply

SCHEMAS: dict[str, JSON] = {}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={})
    book.op(
        "GET",
        "/api/calls/ice-servers",
        tag="calls",
        summary="STUN and TURN servers for a call, TURN with short-lived credentials",
        ok={
            200: reply(
                "RTCPeerConnection's `iceServers`: the STUN URLs, and the TURN URLs with a coturn REST-API credential "
                "(username `expiry:user_id`, credential base64(HMAC-SHA1(TURN_SECRET, username))), good until "
                "`expires_at`. Without TURN_SECRET the list holds no TURN entry (and is empty without TURN_URLS): "
                "peers connect with host candidates.",
                obj(
                    {
                        "ice_servers": array(
                            obj(
                                {"urls": array(STRING, minItems=1), "username": STRING, "credential": STRING},
                                required=["urls"],
                                closed=True,
                            )
                        ),
                        "ttl": {**INTEGER, "description": "seconds the credential is good for"},
                        "expires_at": {**INTEGER, "description": "Unix seconds"},
                    },
                    closed=True,
                ),
            )
        },
    )
    return book.paths
