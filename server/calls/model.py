"""What a call is, and what a frame about one may carry: ids, session descriptions, candidates and reasons.

A call belongs to a chat. Each device taking part is a party, named by a `party_id` the device makes once and
keeps, so a device that reconnects is known again. The checks here are pure: they take a frame's fields and
return clean values or raise `ValidationError` naming the field, so nothing changes when a frame is bad.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from server.errors import ApiError, Forbidden, NotFound, ValidationError

DEFAULT_LIFETIME_MS = 60_000  # how long an invite rings, and how long a lost device has to come back
MIN_LIFETIME_MS, MAX_LIFETIME_MS = 5_000, 120_000
MAX_SDP = 32 * 1024  # characters of one session description
MAX_CANDIDATE = 1024  # characters of one candidate line
MAX_CANDIDATES = 50  # candidates per frame
MAX_KEPT_CANDIDATES = 200  # the caller's candidates kept for a device that starts ringing later
MEDIA = ("audio", "video")
# The reasons a client may give (MSC2746's), and those only the server gives.
CLIENT_REASONS = ("user_hangup", "invite_timeout", "ice_failed", "user_busy", "user_media_failed", "unknown_error")
SERVER_REASONS = ("user_declined", "replaced", "connection_lost")
OUTCOMES = ("answered", "missed", "declined", "busy")
# What a candidate looks like, a message's value: in the template its braces would read as a placeholder.
CANDIDATE_SHAPE = "{candidate, sdpMid?, sdpMLineIndex?}"

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def call_not_found() -> ApiError:
    return NotFound("no such call", code="call_not_found")


def call_ended() -> ApiError:
    return ApiError("the call has ended", code="call_ended", status=409)


def invalid_state(message: str) -> ApiError:
    return ApiError(message, code="invalid_state", status=409)


def not_a_party() -> ApiError:
    return Forbidden("this party_id is not a party of the call", code="not_a_party")


def check_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationError("{field} must be 1 to 64 letters, digits, '-' or '_'", field=name)
    return value


def check_description(value: Any, name: str, *, kind: str | None = None) -> dict[str, str]:
    """A session description `{"type": "offer"|"answer", "sdp": "..."}` that parses as one: `v=0` first, an
    origin, and at least one media section. Anything else is `invalid_sdp`, naming the field."""
    if not isinstance(value, dict) or set(value) - {"type", "sdp"}:
        raise ValidationError("{field} must be an object with type and sdp", field=name)
    kind_given, sdp = value.get("type"), value.get("sdp")
    if kind_given not in ("offer", "answer") or (kind is not None and kind_given != kind):
        if kind is None:
            raise ValidationError("{field}.type must be offer or answer", field=name)
        raise ValidationError("{field}.type must be {kind}", field=name, kind=kind)
    if not isinstance(sdp, str):
        raise ValidationError("{field}.sdp must be a string", field=name, code="invalid_sdp")
    if len(sdp) > MAX_SDP:
        raise ValidationError(
            "{field}.sdp takes at most {limit} characters", field=name, code="too_long", limit=MAX_SDP
        )
    lines = [line.strip() for line in sdp.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        raise ValidationError(
            "{field}.sdp is not a session description (it must start with v=0)", field=name, code="invalid_sdp"
        )
    if not any(line.startswith("o=") for line in lines) or not any(line.startswith("m=") for line in lines):
        raise ValidationError(
            "{field}.sdp needs an origin (o=) and a media section (m=)", field=name, code="invalid_sdp"
        )
    if any(len(line) > 2 and line[1] != "=" for line in lines if line):
        raise ValidationError("{field}.sdp has a line that is not type=value", field=name, code="invalid_sdp")
    return {"type": kind_given, "sdp": sdp}


def check_candidates(value: Any) -> list[dict[str, Any]]:
    """1 to MAX_CANDIDATES candidates as RTCIceCandidate.toJSON() gives them; an empty `candidate` is the end."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CANDIDATES:
        raise ValidationError(
            "{field} must be a list of 1 to {limit} candidates", field="candidates", limit=MAX_CANDIDATES
        )
    clean = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}:
            raise ValidationError("each candidate is {shape}", field="candidates", shape=CANDIDATE_SHAPE)
        line = item.get("candidate")
        if not isinstance(line, str) or len(line) > MAX_CANDIDATE:
            raise ValidationError(
                "candidate must be a string of at most {limit} characters", field="candidates", limit=MAX_CANDIDATE
            )
        if line and not line.removeprefix("a=").startswith("candidate:"):
            raise ValidationError("a candidate line starts with 'candidate:'", field="candidates")
        mid, index, ufrag = item.get("sdpMid"), item.get("sdpMLineIndex"), item.get("usernameFragment")
        if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
            raise ValidationError("sdpMid must be a short string", field="candidates")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 256):
            raise ValidationError("sdpMLineIndex must be an integer from 0 to 255", field="candidates")
        if ufrag is not None and (not isinstance(ufrag, str) or len(ufrag) > 256):
            raise ValidationError("usernameFragment must be a short string", field="candidates")
        clean.append({k: v for k, v in item.items() if v is not None})
    return clean


def check_lifetime(value: Any) -> int:
    if value is None:
        return DEFAULT_LIFETIME_MS
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_LIFETIME_MS <= value <= MAX_LIFETIME_MS:
        raise ValidationError(
            "{field} is milliseconds from {min} to {max}", field="lifetime", min=MIN_LIFETIME_MS, max=MAX_LIFETIME_MS
        )
    return value


def check_reason(value: Any) -> str:
    if value is None:
        return "user_hangup"
    if value not in CLIENT_REASONS:
        raise ValidationError("{field} must be one of {choices}", field="reason", choices=", ".join(CLIENT_REASONS))
    return str(value)


def check_streams(value: Any) -> dict[str, str]:
    """`{"<MediaStream id>": "usermedia" | "screenshare"}`, at most 8 streams."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 8:
        raise ValidationError("streams maps up to 8 stream ids to usermedia or screenshare", field="streams")
    for key, purpose in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= 64 or purpose not in ("usermedia", "screenshare"):
            raise ValidationError("streams maps stream ids to usermedia or screenshare", field="streams")
    return dict(value)


@dataclass
class Party:
    """One device in a call: its user, and whether its socket is open now."""

    party_id: str
    user_id: str
    connected: bool = True
    lost_at: float | None = None


@dataclass
class MediaState:
    audio_muted: bool = False
    video_muted: bool = False
    screenshare: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        for name in ("audio_muted", "video_muted", "screenshare"):
            if changes.get(name) is not None:
                setattr(self, name, bool(changes[name]))

    def to_dict(self) -> dict[str, bool]:
        return {"audio_muted": self.audio_muted, "video_muted": self.video_muted, "screenshare": self.screenshare}


@dataclass
class DirectCall:
    """A 1:1 call's state on the server: ringing until a device answers, then connected, then ended."""

    call_id: str
    chat_id: str
    caller_id: str
    callee_id: str
    caller: Party
    media: str
    offer: dict[str, str]
    lifetime_ms: int
    started_at: float
    state: str = "ringing"  # ringing -> connected -> ended
    callee: Party | None = None  # the device that answered
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    outcome: str | None = None
    declined_by: set[str] = field(default_factory=set)  # ringing devices that rejected (party ids)
    caller_candidates: list[dict[str, Any]] = field(default_factory=list)
    media_state: dict[str, MediaState] = field(default_factory=dict)  # party_id -> what it sends

    @property
    def expires_at(self) -> float:
        return self.started_at + self.lifetime_ms / 1000

    def party(self, party_id: str) -> Party | None:
        for party in (self.caller, self.callee):
            if party is not None and party.party_id == party_id:
                return party
        return None

    def other(self, party: Party) -> Party | None:
        return self.callee if party is self.caller else self.caller

    def users(self) -> tuple[str, str]:
        return (self.caller_id, self.callee_id)

    def view(self) -> dict[str, Any]:
        """The call as `call.state` shows it."""
        view: dict[str, Any] = {
            "call_id": self.call_id,
            "chat_id": self.chat_id,
            "kind": "direct",
            "state": self.state,
            "caller_id": self.caller_id,
            "caller_party_id": self.caller.party_id,
            "callee_id": self.callee_id,
            "callee_party_id": self.callee.party_id if self.callee else None,
            "media": self.media,
            "started_at": self.started_at,
            "answered_at": self.answered_at,
        }
        if self.state == "ringing":
            view["expires_at"] = self.expires_at
        return view
