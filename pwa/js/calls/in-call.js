// The in-call screen: the other side's video (or a grid of everyone in a group call, the active speaker marked),
// this device's own picture, the call's state and length, a connection-quality hint, who is muted, and the
// controls. Built once per call, updated in place on every change (videos keep playing).
//
// Test hook: each remote <video> carries `data-frames-decoded` (from getStats()), and the screen the total.

import { h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { nameOf } from '../chat/store.js';
import { callControls } from './controls.js';
import { icon } from './icons.js';
import { avatar, callTitle, duration, show, videoElement } from './people.js';

const QUALITY = new Set(['good', 'fair', 'poor']); // calls.quality.<quality>

function stateLine(call, title) {
  if (call.notice) return call.notice;
  if (call.kind === 'direct' && call.remote.away) return t('calls.state.reconnecting', { name: title });
  switch (call.state) {
    case 'starting': return t('calls.state.starting');
    case 'ringing': return t('calls.state.ringing');
    case 'connecting': return t('calls.state.connecting');
    default: return call.kind === 'direct' && call.remote.audioMuted
      ? t('calls.state.connected_muted', { name: title }) : t('calls.state.connected');
  }
}

/** A person's tile: video when there is some, their avatar otherwise; their name and mute. */
function tile(name, { self = false } = {}) {
  const video = videoElement('tile-video');
  const audio = self ? null : h('audio', { class: 'tile-audio', autoplay: true });
  const badge = h('span', { class: 'tile-muted', hidden: true }, icon('micOff'),
    h('span', { class: 'visually-hidden' }, ` ${t('calls.tile.muted')}`));
  // Who speaks is marked by more than the tile's colour: screen readers get the word.
  const speakingText = h('span', { class: 'visually-hidden', hidden: true }, ` ${t('calls.tile.speaking')}`);
  const label = h('span', { class: 'tile-name' }, name, badge, speakingText);
  const element = h('figure', { class: self ? 'tile self' : 'tile' }, avatar(name, { size: 'big' }), video, audio,
    h('figcaption', null, label));
  return {
    element,
    update({ stream, videoOn, muted, speaking = false, frames = null }) {
      show(video, videoOn ? stream : null);
      if (audio) show(audio, stream);
      element.classList.toggle('has-video', Boolean(videoOn));
      element.classList.toggle('speaking', speaking);
      speakingText.hidden = !speaking;
      badge.hidden = !muted;
      if (frames !== null) video.dataset.framesDecoded = String(frames);
    },
  };
}

function framesOf(call, stream) {
  const track = stream?.getVideoTracks()[0];
  return track ? (call.stats.byTrack?.[track.id] ?? 0) : 0;
}

/** {element, focusFirst, titleId, update()} for `call`. */
export function inCallView(call) {
  const titleId = uid('call-title');
  const title = callTitle(call.chatId, call.peerUserId);
  const heading = h('h2', { id: titleId, class: 'call-name' }, title);
  const state = h('p', { class: 'call-state', role: 'status', 'aria-live': 'polite' });
  const clock = h('span', { class: 'call-duration' });
  const quality = h('span', { class: 'call-quality' });
  const controls = callControls(call);
  const stage = h('div', { class: call.kind === 'group' ? 'call-stage grid' : 'call-stage' });
  const self = tile(t('calls.tile.you'), { self: true });
  const element = h('div', { class: `call-screen in-call ${call.kind}`, 'aria-labelledby': titleId },
    h('div', { class: 'call-top' }, heading, h('p', { class: 'call-meta' }, clock, quality), state),
    stage, controls.panel, controls.element);

  // 1:1: the other side big (their shared screen instead when they share), ourselves small.
  const remote = tile(title);
  const screenVideo = videoElement('screen-video');
  const tiles = new Map(); // group: party id -> tile
  if (call.kind === 'direct') stage.append(remote.element, screenVideo, self.element);
  else stage.append(self.element);

  function updateDirect() {
    const r = call.remote;
    const videoOn = Boolean(r.stream && r.stream.getVideoTracks().length && !r.videoMuted);
    remote.update({ stream: r.stream, videoOn, muted: r.audioMuted, frames: framesOf(call, r.stream) });
    show(screenVideo, r.screen);
    screenVideo.hidden = !r.screen;
    stage.classList.toggle('sharing', Boolean(r.screen));
    element.dataset.remoteMuted = String(r.audioMuted);
  }

  function updateGroup() {
    const seen = new Set();
    for (const t of call.tiles()) {
      seen.add(t.partyId);
      let known = tiles.get(t.partyId);
      if (!known) {
        known = tile(nameOf(t.userId));
        tiles.set(t.partyId, known);
        stage.insertBefore(known.element, self.element);
      }
      known.update({ stream: t.stream, videoOn: !t.videoMuted, muted: t.audioMuted, speaking: t.speaking,
        frames: framesOf(call, t.stream) });
      known.element.dataset.partyId = t.partyId;
    }
    for (const [id, known] of tiles) {
      if (!seen.has(id)) {
        known.element.remove();
        tiles.delete(id);
      }
    }
    stage.dataset.count = String(tiles.size + 1);
  }

  let lastLine = '';
  function update() {
    if (call.kind === 'direct') updateDirect();
    else updateGroup();
    self.update({ stream: call.local, videoOn: call.hasCamera() && !call.videoMuted, muted: call.audioMuted });
    const line = stateLine(call, title);
    if (line !== lastLine) state.textContent = line; // a live region: only real changes are read out
    lastLine = line;
    clock.textContent = call.answeredAt ? duration((Date.now() - call.answeredAt) / 1000) : '';
    quality.textContent = call.state === 'connected' && QUALITY.has(call.stats.quality) ? t(`calls.quality.${call.stats.quality}`) : '';
    quality.dataset.quality = call.stats.quality || '';
    element.dataset.callState = call.state;
    element.dataset.framesDecoded = String(call.stats.framesDecoded || 0);
    controls.update();
  }

  update();
  return { element, focusFirst: controls.hangUp, titleId, update };
}
