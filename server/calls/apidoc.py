"""Calls in the OpenAPI document: server/calls/routes.py."""

from __future__ import annotations

from server.web.apidoc.kit import INTEGER, JSON, STRING, ApiBook, array, obj, query, reply

SCHEMAS: dict[str, JSON] = {}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params={"call_id": {"type": "string", "maxLength": 64}})
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
    book.op(
        "POST",
        "/api/calls/{call_id}/decline",
        tag="calls",
        summary="Decline a ringing call from its push notification (the link is the credential)",
        auth="none",
        params=[
            query("user", STRING, "the callee's user id, from the push's decline_url", required=True),
            query("token", STRING, "the link's token, from the push's decline_url", required=True),
        ],
        ok={
            200: reply(
                "The call was ringing and is now declined: the caller hears `call.reject`, every device stops "
                "ringing, and the chat records a declined call.",
                obj({"call_id": STRING, "state": {"type": "string", "enum": ["ended"]}}, closed=True),
            )
        },
        errors={
            400: "The link lacks user or token.",
            403: "The token does not match this call and user (`invalid_token`).",
            404: "No such call (`call_not_found`).",
            409: "The call was answered or has ended (`invalid_state`, `call_ended`).",
        },
    )
    return book.paths
