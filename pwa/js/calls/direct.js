// A 1:1 call in a direct chat, peer to peer (docs/protocol.md, "A 1:1 call, step by step"): the invite with its
// offer, the answer, trickled candidates, renegotiation (camera added, screen shared, ICE restarted) as "perfect
// negotiation" (the callee is the polite side), the other side's mute, losing and resuming the connection.

import { t } from '../core/i18n.js';
import { command } from '../core/socket.js';
import { CallBase } from './call-base.js';
import { openUserMedia, startTone, stopTone } from './media.js';
import { candidateReceiver, candidateSender, description } from './peer.js';
import { iceServers, randomId, setCurrent } from './store.js';

const FAILED_GRACE_MS = 15_000; // after ICE fails and a restart did not help, hang up

export class DirectCall extends CallBase {
  constructor({ chatId, callId = randomId(), media, outgoing, peerUserId = null }) {
    super({ kind: 'direct', chatId, callId, media });
    this.outgoing = outgoing;
    this.peerUserId = peerUserId;
    this.remotePartyId = null;
    this.remote = { stream: null, screen: null, audioMuted: false, videoMuted: false, screenshare: false, away: false };
    this.pc = null;
    this.makingOffer = false;
    this.negotiating = false; // renegotiation starts once the call is answered
    this.failTimer = 0;
    this.invited = false;
    this.early = []; // the other side's candidates that came before our peer connection
  }

  async connect() {
    const pc = new RTCPeerConnection({ iceServers: await iceServers() });
    this.pc = pc;
    this.sender = candidateSender(pc, () => this.ids());
    this.receiver = candidateReceiver(pc);
    this.receiver.add(this.early.splice(0));
    pc.addEventListener('track', (event) => this.gotTrack(event));
    pc.addEventListener('connectionstatechange', () => this.connectionChanged());
    pc.addEventListener('negotiationneeded', () => this.renegotiate());
    return pc;
  }

  addLocalTracks() {
    for (const track of this.local.getTracks()) this.senders.set(track, this.pc.addTrack(track, this.local));
  }

  /** The caller's side: camera and microphone, the offer, `call.invite`. Returns the invite's result. */
  async start() {
    setCurrent(this);
    try {
      if (!this.takeLocal(await openUserMedia(this.media))) return null; // hung up while the browser asked
    } catch (err) {
      this.finish('user_media_failed', { problem: err.message });
      return null;
    }
    try {
      await this.connect();
      if (this.abandoned()) return null;
      this.addLocalTracks();
      await this.pc.setLocalDescription(await this.pc.createOffer());
      if (this.abandoned()) return null;
      this.invited = true;
      const result = await command('call.invite', {
        chat_id: this.chatId, ...this.ids(), offer: description(this.pc.localDescription), media: this.media,
      });
      if (this.state === 'ended') return result; // hung up meanwhile: the hangup went after the invite
      if (result.state === 'ringing') {
        if (this.state === 'starting') this.state = 'ringing';
        if (this.state === 'ringing') startTone('ringback');
        this.sender.open();
        this.changed();
      } else if (result.state === 'ended') {
        this.finish(result.reason || 'user_busy');
      }
      return result;
    } catch (err) {
      this.finish('unknown_error', { problem: describeFailure(err) });
      return null;
    }
  }

  /** The callee's side: answer `invite` (a call.invite frame) sending `media` ('audio' | 'video'). */
  async answer(invite, media) {
    this.remotePartyId = invite.party_id;
    this.state = 'connecting';
    this.videoMuted = media !== 'video';
    setCurrent(this);
    try {
      if (!this.takeLocal(await this.openAnswering(media))) return; // hung up while the browser asked
    } catch (err) {
      command('call.hangup', { ...this.ids(), reason: 'user_media_failed' }).catch(() => {});
      this.finish('user_media_failed', { problem: err.message });
      return;
    }
    try {
      await this.connect();
      if (this.abandoned()) return;
      await this.pc.setRemoteDescription(invite.offer);
      this.receiver.ready();
      this.receiver.add(invite.candidates);
      this.addLocalTracks();
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      if (this.abandoned()) return; // ended meanwhile: no call.answer for it
      await command('call.answer', { ...this.ids(), answer: description(this.pc.localDescription) });
      this.answeredAt = Date.now();
      this.negotiating = true;
      this.sender.open();
      this.sendMedia();
      this.changed();
    } catch (err) {
      if (this.abandoned()) return;
      if (err && err.code === 'already_answered') this.finish('answered_elsewhere');
      else if (err && err.code === 'call_ended') this.finish('call_ended');
      else {
        command('call.hangup', { ...this.ids(), reason: 'unknown_error' }).catch(() => {});
        this.finish('unknown_error', { problem: describeFailure(err) });
      }
    }
  }

  /** Camera and microphone to answer with; with no camera to be had, the microphone alone and a notice. */
  async openAnswering(media) {
    try {
      return await openUserMedia(media);
    } catch (err) {
      if (media !== 'video' || err.code === 'unsupported' || this.state === 'ended') throw err;
      const stream = await openUserMedia('audio');
      this.videoMuted = true;
      this.notice = t('calls.error.sound_only');
      return stream;
    }
  }

  // -- what the other side sends --------------------------------------------------------------------

  async onAnswer(frame) {
    if (!this.outgoing || this.remotePartyId) return;
    stopTone();
    this.remotePartyId = frame.party_id;
    this.state = 'connecting';
    this.answeredAt = Date.now();
    this.changed();
    try {
      await this.pc.setRemoteDescription(frame.answer);
    } catch (err) {
      console.warn('The answer could not be used:', err);
      this.hangup('unknown_error');
      return;
    }
    this.receiver.ready();
    this.negotiating = true;
    command('call.select_answer', { ...this.ids(), selected_party_id: frame.party_id }).catch(() => {});
    this.sendMedia();
  }

  onCandidates(frame) {
    if (frame.party_id === this.partyId) return;
    if (this.remotePartyId && frame.party_id !== this.remotePartyId) return;
    if (this.receiver) this.receiver.add(frame.candidates);
    else this.early.push(...(frame.candidates || [])); // still answering: they wait for the peer connection
  }

  /** Perfect negotiation: on an offer collision the impolite side (the caller) ignores the other's offer. */
  async onNegotiate(frame) {
    const desc = frame.description;
    if (!desc || !this.pc) return;
    const collision = desc.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
    if (collision && this.outgoing) return;
    try {
      await this.pc.setRemoteDescription(desc);
      this.receiver.ready();
      if (desc.type === 'offer') {
        await this.pc.setLocalDescription();
        await command('call.negotiate', { ...this.ids(), description: description(this.pc.localDescription) });
      }
    } catch (err) {
      console.warn('Renegotiation failed:', err);
    }
  }

  onMedia(frame) {
    this.remote.audioMuted = Boolean(frame.audio_muted);
    this.remote.videoMuted = Boolean(frame.video_muted);
    this.remote.screenshare = Boolean(frame.screenshare);
    this.changed();
  }

  /** The other side's socket went (`connected: false`) or came back. */
  onParty(frame) {
    if (frame.party_id === this.partyId) return;
    this.remote.away = !frame.connected;
    this.changed();
  }

  /** This device signed in again while the call goes on: take the call back, then restart ICE. */
  async resume() {
    let result;
    try {
      result = await command('call.resume', this.ids());
    } catch (err) {
      this.finish(err && err.code === 'call_ended' ? 'call_ended' : 'connection_lost');
      return;
    }
    if (this.state === 'ended') return;
    // Answered while we were away: the result holds the answer (and the callee's candidates) we missed.
    if (result && result.answer && !this.remotePartyId && result.call) {
      await this.onAnswer({ party_id: result.call.callee_party_id, answer: result.answer });
      if (this.state === 'ended') return;
    }
    if (result && result.candidates && this.receiver) this.receiver.add(result.candidates);
    this.sender.open();
    if (this.pc && this.negotiating) this.pc.restartIce();
  }

  hangup(reason = 'user_hangup') {
    if (this.state === 'ended') return;
    if (this.invited || !this.outgoing) command('call.hangup', { ...this.ids(), reason }).catch(() => {});
    this.finish(reason);
  }

  // -- the peer connection --------------------------------------------------------------------------

  async renegotiate() {
    if (!this.negotiating || this.state === 'ended') return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      await command('call.negotiate', { ...this.ids(), description: description(this.pc.localDescription) });
    } catch (err) {
      console.warn('Renegotiation failed:', err);
    } finally {
      this.makingOffer = false;
    }
  }

  gotTrack(event) {
    const stream = event.streams[0] || new MediaStream([event.track]);
    // The first stream is the other side's camera and microphone; another one is a shared screen.
    if (!this.remote.stream || this.remote.stream.id === stream.id) {
      this.remote.stream = stream;
    } else {
      this.remote.screen = stream;
      const gone = () => {
        if (!stream.getVideoTracks().some((t) => t.readyState === 'live' && !t.muted)) {
          if (this.remote.screen === stream) this.remote.screen = null;
          this.changed();
        }
      };
      stream.addEventListener('removetrack', gone);
      event.track.addEventListener('mute', gone);
      event.track.addEventListener('unmute', () => {
        this.remote.screen = stream;
        this.changed();
      });
    }
    stream.addEventListener('addtrack', () => this.changed());
    this.changed();
  }

  connectionChanged() {
    const state = this.pc.connectionState;
    if (state === 'connected') {
      clearTimeout(this.failTimer);
      this.failTimer = 0;
      this.state = 'connected';
      if (this.notice === t('calls.state.reconnecting_plain')) this.notice = ''; // a notice of the answer (no camera) stays
    } else if (state === 'disconnected') {
      this.notice = t('calls.state.reconnecting_plain');
    } else if (state === 'failed' && !this.failTimer) {
      this.notice = t('calls.state.reconnecting_plain');
      this.pc.restartIce();
      this.failTimer = setTimeout(() => this.hangup('ice_failed'), FAILED_GRACE_MS);
    }
    this.changed();
  }

  async sendTrack(track, stream) {
    this.senders.set(track, this.pc.addTrack(track, stream)); // negotiationneeded follows
  }

  async dropTrack(track) {
    const sender = this.senders.get(track);
    if (!sender || !this.pc) return;
    this.senders.delete(track);
    this.pc.removeTrack(sender);
  }

  peerConnections() {
    return [this.pc];
  }

  expectsVideo() {
    const stream = this.remote.stream;
    return Boolean(stream && stream.getVideoTracks().length && !this.remote.videoMuted && this.state === 'connected');
  }

  release() {
    clearTimeout(this.failTimer);
    if (this.sender) this.sender.stop();
  }
}

export function describeFailure(err) {
  if (err && err.status === 0) return t('calls.error.offline');
  if (err && err.code === 'rate_limited') return t('calls.error.rate_limited');
  if (err && err.code === 'blocked') return t('calls.error.blocked');
  return t('calls.error.failed');
}
