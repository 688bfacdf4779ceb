"""Errors the SFU raises: ApiErrors, so the signalling layer sends each as `{"error": {"code", "message"}}`."""

from __future__ import annotations

from server.errors import ApiError


class RoomFull(ApiError):
    status = 409
    code = "room_full"


class SfuFull(ApiError):
    status = 503
    code = "sfu_full"


class InvalidSdp(ApiError):
    status = 400
    code = "invalid_sdp"


class NotInRoom(ApiError):
    status = 404
    code = "not_in_room"


class AlreadyJoined(ApiError):
    status = 409
    code = "already_joined"


class NegotiationError(ApiError):
    status = 409
    code = "negotiation"
