// What a 1:1 call (calls/direct.js) and a group call (calls/group.js) share: this device's camera, microphone and
// screen share (mute, camera off, switch device, share), `call.media` to tell the others, the call's duration and
// quality, and how it ends. The kinds differ in how a new track reaches the other side (`sendTrack`).

import { t } from '../core/i18n.js';
import { command } from '../core/socket.js';
import { openScreen, openTrack, stopStream, stopTone } from './media.js';
import { qualityMeter } from './peer.js';
import { emit, finishCurrent, partyId } from './store.js';

/** Stop a MediaStream or a MediaStreamTrack. */
function stopMedia(media) {
  if (media instanceof MediaStream) stopStream(media);
  else if (media) media.stop();
}

/** What the end of a call is called, in plain words (hangup reasons of docs/protocol.md; calls/strings.js). */
const ENDINGS = new Set([
  'user_hangup', 'left', 'invite_timeout', 'user_declined', 'user_busy', 'answered_elsewhere', 'connection_lost',
  'ice_failed', 'user_media_failed', 'call_ended', 'unknown_error',
]);

export function ending(reason) {
  return t(`calls.end.${ENDINGS.has(reason) ? reason : 'user_hangup'}`);
}

export class CallBase {
  constructor({ kind, chatId, callId, media }) {
    this.kind = kind;
    this.chatId = chatId;
    this.callId = callId;
    this.media = media;
    this.partyId = partyId();
    this.state = 'starting'; // starting | ringing | connecting | connected | ended
    this.notice = ''; // a passing problem: "Reconnecting…", a device that could not be switched
    this.local = null; // MediaStream: microphone (and camera)
    this.screen = null; // MediaStream of the shared screen
    this.audioMuted = false;
    this.videoMuted = media !== 'video';
    this.answeredAt = null; // Date.now() when the call was answered: the duration counts from it
    this.stats = { quality: null, framesDecoded: 0 };
    this.devices = { audio: null, video: null }; // the chosen device ids
    this.senders = new Map(); // local track -> RTCRtpSender
    this.meter = qualityMeter();
  }

  changed() {
    emit();
  }

  /** The ids the server checks on every command of this call. */
  ids() {
    return { call_id: this.callId, party_id: this.partyId };
  }

  /**
   * This device's camera and microphone are open (`stream`): keep them, with mute and camera-off pressed meanwhile
   * applied. False when the call ended while they opened (they are stopped then, and so is all else of it).
   */
  takeLocal(stream) {
    if (this.abandoned(stream)) return false;
    this.local = stream;
    for (const track of stream.getAudioTracks()) track.enabled = !this.audioMuted;
    for (const track of stream.getVideoTracks()) track.enabled = !this.videoMuted;
    return true;
  }

  /** After an await while setting up: if the call ended meanwhile, stop `extra` and what the call holds. */
  abandoned(extra = null) {
    if (this.state !== 'ended') return false;
    stopMedia(extra);
    for (const pc of this.peerConnections()) if (pc) pc.close();
    stopStream(this.local);
    stopStream(this.screen);
    return true;
  }

  hasCamera() {
    return Boolean(this.local && this.local.getVideoTracks().length);
  }

  sendMedia() {
    if (!this.callId || this.state === 'ended') return;
    command('call.media', {
      ...this.ids(), audio_muted: this.audioMuted, video_muted: this.videoMuted || !this.hasCamera(),
      screenshare: Boolean(this.screen),
    }).catch(() => {});
  }

  toggleAudio() {
    this.audioMuted = !this.audioMuted;
    for (const track of this.local?.getAudioTracks() || []) track.enabled = !this.audioMuted;
    this.sendMedia();
    this.changed();
  }

  /** Camera off or on; in an audio call the first "on" adds the camera (a renegotiation). */
  async toggleVideo() {
    const track = this.local?.getVideoTracks()[0];
    if (!this.local) {
      this.videoMuted = !this.videoMuted; // still opening the camera: applied once it is open
      this.changed();
      return;
    }
    if (track) {
      this.videoMuted = !this.videoMuted;
      track.enabled = !this.videoMuted;
    } else {
      const camera = await this.tryDevice(() => openTrack('video', this.devices.video));
      if (!camera) return;
      this.local.addTrack(camera);
      this.videoMuted = false;
      await this.sendTrack(camera, this.local, 'usermedia');
    }
    this.sendMedia();
    this.changed();
  }

  async toggleScreen() {
    if (!this.local) return; // still setting up: nothing to send a screen with yet
    if (this.screen) {
      await this.stopScreen();
      return;
    }
    const stream = await this.tryDevice(() => openScreen());
    if (!stream) return;
    this.screen = stream;
    const [track] = stream.getVideoTracks();
    track.addEventListener('ended', () => this.stopScreen()); // the browser's own "Stop sharing"
    this.changed();
    await this.sendTrack(track, stream, 'screenshare');
    this.sendMedia();
  }

  async stopScreen() {
    if (!this.screen) return;
    const stream = this.screen;
    this.screen = null;
    const [track] = stream.getVideoTracks();
    stopStream(stream);
    this.changed();
    if (this.state !== 'ended') {
      await this.dropTrack(track);
      this.sendMedia();
    }
  }

  /** Use another microphone or camera: the new track replaces the old one on the same sender. */
  async switchDevice(kind, deviceId) {
    if (!this.local) return;
    const old = kind === 'audio' ? this.local.getAudioTracks()[0] : this.local.getVideoTracks()[0];
    const track = await this.tryDevice(() => openTrack(kind, deviceId));
    if (!track) return;
    this.devices[kind] = deviceId;
    // A camera added from the selector in an audio call stays as the camera button says (off).
    track.enabled = old ? old.enabled : !(kind === 'audio' ? this.audioMuted : this.videoMuted);
    if (old) {
      const sender = this.senders.get(old);
      if (sender) {
        await sender.replaceTrack(track);
        if (this.abandoned(track)) return;
        this.senders.delete(old);
        this.senders.set(track, sender);
      }
      this.local.removeTrack(old);
      old.stop();
    }
    this.local.addTrack(track);
    if (!old) await this.sendTrack(track, this.local, 'usermedia');
    this.changed();
  }

  async tryDevice(open) {
    try {
      this.notice = '';
      const opened = await open();
      return this.abandoned(opened) ? null : opened; // hung up while the browser asked
    } catch (err) {
      this.notice = err.message || t('calls.device_failed');
      this.changed();
      return null;
    }
  }

  /** Read the connection's quality (the call screen asks every two seconds). */
  async measure() {
    if (this.state === 'ended') return;
    try {
      this.stats = await this.meter(this.peerConnections(), { expectVideo: this.expectsVideo() });
    } catch {
      return; // closed meanwhile
    }
    this.changed();
  }

  /** Stop everything of this device and leave the ending for the call screen to show. */
  finish(reason, { problem = null } = {}) {
    if (this.state === 'ended') return;
    this.state = 'ended';
    stopTone();
    this.release();
    for (const pc of this.peerConnections()) {
      if (pc) pc.close();
    }
    stopStream(this.local);
    stopStream(this.screen);
    this.screen = null;
    // An ending with a problem (the camera that could not be used) stays until closed: there is something to read.
    const lasting = Boolean(problem) && reason !== 'left';
    finishCurrent(this, { reason, text: problem || ending(reason), kind: this.kind, lasting });
  }

  // Each kind of call provides these: its peer connections, whether video should be arriving, what to stop at
  // the end, and how a track of this device reaches the others or stops reaching them.
  peerConnections() { return []; }

  expectsVideo() { return false; }

  release() {}

  async sendTrack() {}

  async dropTrack() {}
}
