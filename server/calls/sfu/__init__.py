"""The group-call SFU: each participant publishes once, the SFU forwards every track to the others, encoded.

No aiohttp here: the signalling layer (server/calls/service.py, ws.py) drives it through this API.

```python
sfu = Sfu(max_rooms=..., max_participants=..., ice_servers=[RTCIceServer(...)] or None,
          on_offer=send_offer,   # async (room_id, participant_id, offer_sdp): an offer for the SUBSCRIBE connection
          on_state=send_state)   # (room_id, RoomState): who is in, muted, sharing; their track ids; active speaker
answer = await sfu.join(room_id, participant_id, user_id, offer_sdp, streams)   # the PUBLISH connection
answer = await sfu.publish(room_id, participant_id, offer_sdp, streams)         # renegotiate it
await sfu.subscriber_answer(room_id, participant_id, answer_sdp)                # answer to an on_offer offer
sfu.set_media(room_id, participant_id, audio_muted=True, video_muted=None)      # None: unchanged
await sfu.leave(room_id, participant_id)
sfu.state(room_id) -> RoomState | None                                          # .to_dict() is JSON
await sfu.close()
```

- Two RTCPeerConnections per participant (as LiveKit): *publish* (the client offers, the SFU answers and only
  receives) and *subscribe* (the SFU offers, the client answers, the SFU only sends). Offers never cross. Each
  subscriber has at most one offer outstanding; changes meanwhile go into one new offer after its answer.
- `streams` maps each MediaStream id of the publish offer (the msid's stream part) to "usermedia" or
  "screenshare" (as Matrix MSC3077's sdp_stream_metadata); per purpose at most one audio and one video track. A
  track is attributed only by the publish connection it arrives on. Subscribers see the SFU's own ids (stream and
  track, in `RoomState`), never a publisher's, so a client maps an incoming track (`event.streams[0].id`, or the
  track id) to a person and purpose.
- Codecs: Opus and VP8 (one codec per kind keeps every subscriber's m-lines alike). Frames are forwarded without
  decoding or encoding (see `seam.py` for how aiortc is made to do that); a video subscriber is held until a
  keyframe (on joining, after its bounded queue overflowed, after an unmute) and the SFU sends the publisher a
  PLI; a subscriber's PLI/FIR reaches the publisher as a PLI. Muted tracks are not forwarded.
- Active speaker: from the ssrc-audio-level RTP header extension (RFC 6464) on the publishers' Opus packets,
  averaged and smoothed over half a second; the last speaker stays through silence.
- Limits: `max_participants` per room (`RoomFull`, code room_full), `max_rooms` per SFU (`SfuFull`). Errors are
  `ApiError`s (errors.py). A participant whose connection fails is taken out of the room.
- No media is written anywhere; every queue is bounded.
"""

from __future__ import annotations

from server.calls.sfu.errors import AlreadyJoined, InvalidSdp, NegotiationError, NotInRoom, RoomFull, SfuFull
from server.calls.sfu.seam import AiortcSeamError, check_aiortc
from server.calls.sfu.sfu import Sfu
from server.calls.sfu.state import ParticipantState, RoomState, StreamState

__all__ = [
    "AiortcSeamError",
    "AlreadyJoined",
    "InvalidSdp",
    "NegotiationError",
    "NotInRoom",
    "ParticipantState",
    "RoomFull",
    "RoomState",
    "Sfu",
    "SfuFull",
    "StreamState",
    "check_aiortc",
]
