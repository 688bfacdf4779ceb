// The devices' side of a call: the camera and microphone (with a plain sentence when they are missing or
// refused), the screen to share, the list of devices to switch between, and the ringtone made with WebAudio.

import { t } from '../core/i18n.js';

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

/** An error whose message a person can act on; `code` is the browser's error name. */
export class MediaError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'MediaError';
    this.code = code;
  }
}

function explain(err, media) {
  const said = (key) => t(`calls.media.${key}_${media === 'video' ? 'video' : 'audio'}`);
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new MediaError('denied', said('denied'));
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new MediaError('missing', said('missing'));
    case 'NotReadableError':
    case 'AbortError':
      return new MediaError('busy', said('busy'));
    default:
      return new MediaError('failed', said('failed'));
  }
}

/** Microphone (and camera for `media: 'video'`); rejects with a MediaError that says what to do. */
export async function openUserMedia(media, { audioId = null, videoId = null } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new MediaError('unsupported', t('calls.media.unsupported'));
  }
  const audio = audioId ? { deviceId: { exact: audioId } } : true;
  const video = media === 'video' ? (videoId ? { ...VIDEO, deviceId: { exact: videoId } } : VIDEO) : false;
  try {
    return await navigator.mediaDevices.getUserMedia({ audio, video });
  } catch (err) {
    throw explain(err, media);
  }
}

/** One track of one kind from a chosen device (switching the camera or the microphone). */
export async function openTrack(kind, deviceId = null) {
  const constraints = deviceId ? { deviceId: { exact: deviceId } } : true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia(kind === 'audio'
      ? { audio: constraints } : { video: deviceId ? { ...VIDEO, deviceId: { exact: deviceId } } : VIDEO });
    return stream.getTracks()[0];
  } catch (err) {
    throw explain(err, kind === 'audio' ? 'audio' : 'video');
  }
}

/** The screen (or a window or tab) to share: its video track, or null when the person cancelled. */
export async function openScreen() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    throw new MediaError('unsupported', t('calls.media.no_share'));
  }
  try {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    return stream;
  } catch (err) {
    if (err && err.name === 'NotAllowedError') return null; // cancelled in the picker
    throw new MediaError('failed', t('calls.media.share_failed'));
  }
}

/** The microphones and cameras to choose from: {audio: [{id, label}], video: [...]}. */
export async function listDevices() {
  const found = { audio: [], video: [] };
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return found;
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const device of devices) {
    const kind = device.kind === 'audioinput' ? 'audio' : device.kind === 'videoinput' ? 'video' : null;
    if (!kind || !device.deviceId) continue;
    const n = found[kind].length + 1;
    found[kind].push({ id: device.deviceId, label: device.label || (kind === 'audio' ? `Microphone ${n}` : `Camera ${n}`) });
  }
  return found;
}

export function stopStream(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

// -- tones ----------------------------------------------------------------------------------------------

// 'ring': the callee's ringtone; 'ringback': what the caller hears while it rings. [frequencies, on s, off s].
const TONES = { ring: [[440, 480], 1.2, 2.0], ringback: [[425], 1.0, 3.0] };
let tone = null; // {context, timer}

/** Play `kind` in a loop until stopTone(); silently nothing where the browser will not play sound yet. */
export function startTone(kind) {
  stopTone();
  const AudioContext = window.AudioContext || window.webkitAudioContext;
  if (!AudioContext) return;
  let context;
  try {
    context = new AudioContext();
  } catch {
    return;
  }
  const [frequencies, on, off] = TONES[kind];
  const gain = context.createGain();
  gain.gain.value = 0;
  gain.connect(context.destination);
  for (const frequency of frequencies) {
    const oscillator = context.createOscillator();
    oscillator.frequency.value = frequency;
    oscillator.connect(gain);
    oscillator.start();
  }
  const beep = () => {
    const t = context.currentTime;
    gain.gain.setValueAtTime(0, t);
    gain.gain.linearRampToValueAtTime(0.12, t + 0.05);
    gain.gain.setValueAtTime(0.12, t + on - 0.05);
    gain.gain.linearRampToValueAtTime(0, t + on);
  };
  context.resume().catch(() => {}); // may need a tap first: the ring is then silent, the screen still shows
  beep();
  tone = { context, timer: setInterval(beep, (on + off) * 1000) };
}

export function stopTone() {
  if (!tone) return;
  clearInterval(tone.timer);
  tone.context.close().catch(() => {});
  tone = null;
}
