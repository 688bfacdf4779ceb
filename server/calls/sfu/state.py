"""What a room's participants see of it (`RoomState`), and who speaks (`SpeakerDetector`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PURPOSES = ("usermedia", "screenshare")

# Active speaker: audio levels in -dBov (0 loudest, 127 silence) from the ssrc-audio-level RTP header extension
# (RFC 6464), which browsers and aiortc send on Opus. Loudness = 127 - level, averaged per tick, smoothed.
SPEAKING_LOUDNESS = 127 - 55  # quieter than -55 dBov is not speech
SMOOTHING = 0.5  # weight of the newest tick's average
SWITCH_MARGIN = 6  # dB louder than the current speaker to take over


@dataclass(frozen=True)
class StreamState:
    """One stream a participant publishes, as every subscriber sees it: its MediaStream id (the msid in the
    subscriber's SDP) and its track ids, all chosen by the SFU."""

    purpose: str  # "usermedia" | "screenshare"
    stream_id: str
    audio_track_id: str | None
    video_track_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "stream_id": self.stream_id,
            "audio_track_id": self.audio_track_id,
            "video_track_id": self.video_track_id,
        }


@dataclass(frozen=True)
class ParticipantState:
    participant_id: str
    user_id: str
    audio_muted: bool
    video_muted: bool
    streams: tuple[StreamState, ...]

    @property
    def has_audio(self) -> bool:
        return any(s.audio_track_id for s in self.streams if s.purpose == "usermedia")

    @property
    def has_video(self) -> bool:
        return any(s.video_track_id for s in self.streams if s.purpose == "usermedia")

    @property
    def screen_sharing(self) -> bool:
        return any(s.video_track_id for s in self.streams if s.purpose == "screenshare")

    def to_dict(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "user_id": self.user_id,
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "has_audio": self.has_audio,
            "has_video": self.has_video,
            "screen_sharing": self.screen_sharing,
            "streams": [s.to_dict() for s in self.streams],
        }


@dataclass(frozen=True)
class RoomState:
    room_id: str
    participants: tuple[ParticipantState, ...]
    active_speaker: str | None  # a participant_id

    def participant(self, participant_id: str) -> ParticipantState | None:
        return next((p for p in self.participants if p.participant_id == participant_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "room_id": self.room_id,
            "participants": [p.to_dict() for p in self.participants],
            "active_speaker": self.active_speaker,
        }


class SpeakerDetector:
    """The loudest participant, kept until another is clearly louder (the last speaker stays through silence)."""

    def __init__(self) -> None:
        self.speaker: str | None = None
        self._sums: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._smoothed: dict[str, float] = {}

    def add_level(self, participant_id: str, level: int) -> None:
        self._sums[participant_id] = self._sums.get(participant_id, 0) + 127 - min(level, 127)
        self._counts[participant_id] = self._counts.get(participant_id, 0) + 1

    def forget(self, participant_id: str) -> None:
        for table in (self._sums, self._counts, self._smoothed):
            table.pop(participant_id, None)
        if self.speaker == participant_id:
            self.speaker = None

    def tick(self, muted: set[str]) -> bool:
        """Fold in the levels since the last tick; True when the active speaker changed."""
        for pid in set(self._smoothed) | set(self._counts):
            count = self._counts.get(pid, 0)
            average = 0.0 if pid in muted or not count else self._sums[pid] / count
            self._smoothed[pid] = SMOOTHING * average + (1 - SMOOTHING) * self._smoothed.get(pid, 0.0)
        self._sums.clear()
        self._counts.clear()
        if not self._smoothed:
            return False
        loudest = max(self._smoothed, key=lambda pid: self._smoothed[pid])
        loudness = self._smoothed[loudest]
        current = self._smoothed.get(self.speaker, 0.0) if self.speaker else 0.0
        if loudest == self.speaker or loudness < SPEAKING_LOUDNESS:
            return False
        if self.speaker is not None and current >= SPEAKING_LOUDNESS and loudness < current + SWITCH_MARGIN:
            return False
        self.speaker = loudest
        return True
