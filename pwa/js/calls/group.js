// A group chat's call, through the server's SFU (docs/protocol.md, "A group call"): two peer connections, one
// publishing this device's tracks (our offers, `target: "publish"`), one receiving everyone else's (the server's
// offers, `target: "subscribe"`). Candidates are gathered before each description goes (the SFU does not
// trickle). `call.room` says who is in, which track is whose, who is muted and who speaks.

import { command } from '../core/socket.js';
import { t } from '../core/i18n.js';
import { CallBase, ending } from './call-base.js';
import { openUserMedia } from './media.js';
import { description, gathered } from './peer.js';
import { iceServers, setCurrent, setRoom } from './store.js';
import { describeFailure } from './direct.js';

export class GroupCall extends CallBase {
  constructor({ chatId, media }) {
    super({ kind: 'group', chatId, callId: null, media });
    this.publisher = null;
    this.subscriber = null;
    this.participants = []; // the others, from call.room: {party_id, user_id, audio_muted, video_muted, screenshare, tracks}
    this.activeSpeaker = null;
    this.tracks = new Map(); // incoming track id -> MediaStreamTrack
    this.trackStreams = new Map(); // incoming track id -> the id of the stream it came in (RTCTrackEvent.streams[0])
    this.streams = new Map(); // `${party_id}/${purpose}` -> the MediaStream shown for it (kept: no flicker)
    this.chain = Promise.resolve(); // descriptions are exchanged one at a time
    this.purposes = {}; // our MediaStream id -> 'usermedia' | 'screenshare'
  }

  /** Camera and microphone, the publishing offer (with its candidates), `call.join`. */
  async join() {
    setCurrent(this);
    try {
      if (!this.takeLocal(await openUserMedia(this.media))) return; // left while the browser asked
    } catch (err) {
      this.finish('user_media_failed', { problem: err.message });
      return;
    }
    this.state = 'connecting';
    this.changed();
    const servers = await iceServers().catch(() => []);
    if (this.abandoned()) return;
    this.publisher = new RTCPeerConnection({ iceServers: servers });
    this.servers = servers;
    this.publisher.addEventListener('connectionstatechange', () => this.connectionChanged());
    this.purposes[this.local.id] = 'usermedia';
    for (const track of this.local.getTracks()) {
      this.senders.set(track, this.publisher.addTransceiver(track, { direction: 'sendonly', streams: [this.local] }).sender);
    }
    this.chain = this.chain.then(async () => {
      await this.publisher.setLocalDescription(await this.publisher.createOffer());
      await gathered(this.publisher);
      if (this.abandoned()) return;
      const result = await command('call.join', {
        chat_id: this.chatId, party_id: this.partyId, offer: description(this.publisher.localDescription),
        media: this.media, streams: this.purposes,
      });
      this.callId = result.call_id;
      this.answeredAt = Date.now();
      if (this.abandoned()) {
        command('call.hangup', this.ids()).catch(() => {});
        return;
      }
      await this.publisher.setRemoteDescription(result.answer);
      this.applyRoom(result.room);
      this.sendMedia();
    }).catch((err) => {
      const problem = err && err.code === 'room_full' ? t('calls.error.room_full')
        : err && err.code === 'calls_unavailable' ? t('calls.error.unavailable')
          : describeFailure(err);
      this.finish('unknown_error', { problem });
    });
    await this.chain;
  }

  /** Signed in again while in the room: hold our party again (the server then offers what we receive afresh). */
  async resume() {
    this.resumed = true; // the server's next subscribe offer may come before the result
    try {
      await command('call.resume', this.ids());
    } catch (err) {
      this.finish(err && err.code === 'call_ended' ? 'call_ended' : 'connection_lost');
    }
  }

  /** The server's offer for what we receive: answer it with our candidates gathered. */
  onNegotiate(frame) {
    if (frame.target && frame.target !== 'subscribe') return;
    this.chain = this.chain.then(async () => {
      if (this.state === 'ended') return;
      let pc = this.subscriberConnection();
      try {
        await pc.setRemoteDescription(frame.description);
      } catch (err) {
        if (!this.resumed) throw err;
        // After a resume the server's offer may be for a new connection: start the receiving side afresh.
        pc.close();
        this.subscriber = null;
        this.tracks.clear();
        this.trackStreams.clear();
        pc = this.subscriberConnection();
        await pc.setRemoteDescription(frame.description);
      }
      this.resumed = false;
      if (this.state === 'ended') return;
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      await command('call.negotiate', {
        ...this.ids(), target: 'subscribe', description: description(pc.localDescription),
      });
    }).catch((err) => console.warn('The subscription could not be renegotiated:', err));
  }

  subscriberConnection() {
    if (this.subscriber) return this.subscriber;
    const pc = new RTCPeerConnection({ iceServers: this.servers || [] });
    this.subscriber = pc;
    pc.addEventListener('track', (event) => {
      this.tracks.set(event.track.id, event.track);
      if (event.streams[0]) this.trackStreams.set(event.track.id, event.streams[0].id);
      event.track.addEventListener('ended', () => {
        this.tracks.delete(event.track.id);
        this.trackStreams.delete(event.track.id);
        this.changed();
      });
      this.changed();
    });
    pc.addEventListener('connectionstatechange', () => this.connectionChanged());
    return pc;
  }

  /** A call.room frame (or the room in call.join's result). */
  applyRoom(room) {
    if (!room) return;
    setRoom(this.chatId, room);
    if (room.state === 'ended') {
      this.finish('call_ended');
      return;
    }
    this.participants = (room.participants || []).filter((p) => p.party_id !== this.partyId);
    this.activeSpeaker = room.active_speaker || null;
    this.changed();
  }

  /**
   * The others as the grid shows them: {partyId, userId, stream (camera and microphone), screen, audioMuted,
   * videoMuted, screenshare, speaking}, each incoming track matched to whose it is by its stream's id (or its own).
   */
  tiles() {
    return this.participants.map((p) => {
      const stream = this.streamFor(p.party_id, 'usermedia', this.tracksOf(p, 'usermedia'));
      const shared = p.screenshare ? this.tracksOf(p, 'screenshare') : [];
      const screen = shared.length ? this.streamFor(p.party_id, 'screenshare', shared) : null;
      return {
        partyId: p.party_id, userId: p.user_id, stream, screen, audioMuted: Boolean(p.audio_muted),
        videoMuted: Boolean(p.video_muted) || !stream.getVideoTracks().length, screenshare: Boolean(screen),
        speaking: p.party_id === this.activeSpeaker,
      };
    });
  }

  /** The incoming tracks of participant `p`'s `purpose`: by `streams[].stream_id`, else by `tracks`' ids. */
  tracksOf(p, purpose) {
    const entry = (p.streams || []).find((s) => s.purpose === purpose && s.stream_id);
    if (entry) {
      const found = [...this.tracks.values()].filter((t) => this.trackStreams.get(t.id) === entry.stream_id);
      if (found.length) return found;
    }
    const tracks = p.tracks || {};
    const ids = purpose === 'screenshare' ? [tracks.screenshare] : [tracks.audio, tracks.video];
    return ids.map((id) => id && this.tracks.get(id)).filter(Boolean);
  }

  streamFor(partyId, purpose, wanted) {
    const key = `${partyId}/${purpose}`;
    let stream = this.streams.get(key);
    if (!stream) {
      stream = new MediaStream();
      this.streams.set(key, stream);
    }
    for (const track of stream.getTracks()) if (!wanted.includes(track)) stream.removeTrack(track);
    for (const track of wanted) if (!stream.getTracks().includes(track)) stream.addTrack(track);
    return stream;
  }

  connectionChanged() {
    const states = [this.publisher, this.subscriber].filter(Boolean).map((pc) => pc.connectionState);
    if (states.includes('failed')) {
      this.hangup('ice_failed');
      return;
    }
    if (states.every((s) => s === 'connected')) {
      this.state = 'connected';
      this.notice = '';
    } else if (states.includes('disconnected')) {
      this.notice = t('calls.state.reconnecting_plain');
    }
    this.changed();
  }

  /** Publish a new track (a screen, a camera in an audio call): a new offer with `target: "publish"`. */
  async sendTrack(track, stream, purpose) {
    this.purposes[stream.id] = purpose;
    this.senders.set(track, this.publisher.addTransceiver(track, { direction: 'sendonly', streams: [stream] }).sender);
    await this.publish();
  }

  async dropTrack(track) {
    const sender = this.senders.get(track);
    if (!sender) return;
    this.senders.delete(track);
    this.publisher.removeTrack(sender);
    await this.publish();
  }

  publish() {
    this.chain = this.chain.then(async () => {
      if (this.state === 'ended' || !this.callId) return;
      await this.publisher.setLocalDescription(await this.publisher.createOffer());
      await gathered(this.publisher);
      const result = await command('call.negotiate', {
        ...this.ids(), target: 'publish', description: description(this.publisher.localDescription), streams: this.purposes,
      });
      await this.publisher.setRemoteDescription(result.description);
    }).catch((err) => {
      console.warn('Publishing failed:', err);
      this.notice = t('calls.error.publish');
      this.changed();
    });
    return this.chain;
  }

  hangup(reason = 'user_hangup') {
    if (this.state === 'ended') return;
    if (this.callId) command('call.hangup', { ...this.ids(), reason }).catch(() => {});
    this.finish(reason === 'user_hangup' ? 'left' : reason, { problem: reason === 'user_hangup' ? ending('left') : null });
  }

  peerConnections() {
    return [this.publisher, this.subscriber];
  }

  expectsVideo() {
    return this.state === 'connected' && this.tiles().some((t) => !t.videoMuted);
  }
}
