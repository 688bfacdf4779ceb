// The in-call control bar: mute, camera, screen share, the devices (switch microphone or camera), hang up.
// Built once per call and updated in place, so focus stays on the button just pressed.

import { h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { icon } from './icons.js';
import { listDevices } from './media.js';

function control(label, glyph, className = '') {
  return h('button', { type: 'button', class: `call-button ${className}`.trim() },
    h('span', { class: 'call-icon' }, icon(glyph)), h('span', { class: 'call-button-label' }, label));
}

/** {element, panel, hangUp, update(call)} for `call` (a DirectCall or GroupCall). */
export function callControls(call) {
  const mute = control(t('calls.mute'), 'mic');
  const camera = control(t('calls.camera_off'), 'video');
  const share = control(t('calls.share'), 'screen');
  const panelId = uid('devices');
  const devices = control(t('calls.devices'), 'devices');
  devices.setAttribute('aria-controls', panelId);
  devices.setAttribute('aria-expanded', 'false');
  const hangUp = control(t(call.kind === 'group' ? 'calls.leave' : 'calls.hang_up'), 'hangUp', 'hang-up');
  const canShare = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  share.hidden = !canShare;

  const micSelect = h('select', { id: uid('mic') });
  const camSelect = h('select', { id: uid('cam') });
  const close = h('button', { type: 'button', class: 'button small' }, t('calls.done'));
  const panel = h('div', { class: 'device-panel', id: panelId, hidden: true, role: 'group', 'aria-label': t('calls.devices') },
    h('div', { class: 'field' }, h('label', { for: micSelect.id }, t('calls.microphone')), micSelect),
    h('div', { class: 'field' }, h('label', { for: camSelect.id }, t('calls.camera')), camSelect),
    close);

  const run = (work) => {
    Promise.resolve().then(work).catch((err) => console.warn(err));
  };
  mute.addEventListener('click', () => call.toggleAudio());
  camera.addEventListener('click', () => run(() => call.toggleVideo()));
  share.addEventListener('click', () => run(() => call.toggleScreen()));
  hangUp.addEventListener('click', () => call.hangup());
  devices.addEventListener('click', () => (panel.hidden ? openPanel() : closePanel()));
  close.addEventListener('click', () => closePanel());
  micSelect.addEventListener('change', () => run(() => call.switchDevice('audio', micSelect.value)));
  camSelect.addEventListener('change', () => run(() => call.switchDevice('video', camSelect.value)));
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      closePanel();
    }
  });

  async function openPanel() {
    const found = await listDevices().catch(() => ({ audio: [], video: [] }));
    const fill = (select, list, kind) => {
      const chosen = call.devices[kind] || trackDevice(call, kind);
      select.replaceChildren(...(list.length ? list : [{ id: '', label: t('calls.none_found') }])
        .map((d) => h('option', { value: d.id, selected: d.id === chosen }, d.label)));
      select.disabled = list.length < 2 && Boolean(chosen || !list.length);
    };
    fill(micSelect, found.audio, 'audio');
    fill(camSelect, found.video, 'video');
    panel.hidden = false;
    devices.setAttribute('aria-expanded', 'true');
    (micSelect.disabled ? close : micSelect).focus();
  }

  function closePanel() {
    panel.hidden = true;
    devices.setAttribute('aria-expanded', 'false');
    devices.focus();
  }

  const element = h('div', { class: 'call-controls', role: 'toolbar', 'aria-label': t('calls.controls') },
    mute, camera, share, devices, hangUp);

  function update() {
    const live = call.state !== 'ended' && call.state !== 'starting';
    mute.setAttribute('aria-pressed', String(call.audioMuted));
    mute.querySelector('.call-icon').replaceChildren(icon(call.audioMuted ? 'micOff' : 'mic'));
    const cameraOff = call.videoMuted || !call.hasCamera();
    camera.setAttribute('aria-pressed', String(cameraOff));
    camera.querySelector('.call-icon').replaceChildren(icon(cameraOff ? 'videoOff' : 'video'));
    // Renegotiating needs an answered call: the camera of an audio call and the screen wait until then.
    camera.disabled = !live || (!call.hasCamera() && !call.answeredAt);
    share.disabled = !live || !call.answeredAt;
    share.setAttribute('aria-pressed', String(Boolean(call.screen)));
    share.querySelector('.call-button-label').textContent = t(call.screen ? 'calls.stop_sharing' : 'calls.share');
  }

  return { element, panel, hangUp, update };
}

function trackDevice(call, kind) {
  const track = kind === 'audio' ? call.local?.getAudioTracks()[0] : call.local?.getVideoTracks()[0];
  return track?.getSettings?.().deviceId || null;
}
