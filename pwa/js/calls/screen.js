// The call screens' host: one modal <dialog> over whatever screen is open, showing the incoming call (with the
// ringtone), the call in progress, or for a moment how the call ended. Focus moves into it when it opens and back
// where it was when it closes.

import { t } from '../core/i18n.js';
import { h } from '../core/dom.js';
import { incomingView } from './incoming.js';
import { inCallView } from './in-call.js';
import { startTone, stopTone } from './media.js';
import { currentCall, dismissEnded, firstRinging, lastEnded, subscribe } from './store.js';

const ENDED_SHOWN_MS = 2500;
const TICK_MS = 1000;

let dialog = null;
let shown = null; // {key, view}
let returnFocus = null;
let ringing = false;
let tick = 0;
let endedTimer = 0;
let measuring = false;

/** Start following the calls' state (calls/init.js, once). */
export function startCallScreen() {
  dialog = h('dialog', { class: 'call-dialog' });
  // Escape must not close a call by accident: Hang up and Decline are the ways out.
  dialog.addEventListener('cancel', (event) => event.preventDefault());
  document.body.append(dialog);
  subscribe(render);
}

function render() {
  const call = currentCall();
  const invite = call ? null : firstRinging();
  const ended = call || invite ? null : lastEnded();

  // The ringtone plays while an invite shows, and stops on answer, decline, or when it stops ringing.
  if (invite && !ringing) startTone('ring');
  if (!invite && ringing) stopTone();
  ringing = Boolean(invite);

  let key = null;
  if (call) key = `call:${call.callId || call.chatId}:${call.kind}`;
  else if (invite) key = `invite:${invite.call_id}`;
  else if (ended && ended.reason !== 'replaced') key = `ended:${ended.text}`;

  if (!key) {
    close();
    return;
  }
  if (!shown || shown.key !== key || (call && shown.call !== call)) {
    const view = call ? inCallView(call) : invite ? incomingView(invite) : endedView(ended);
    shown = { key, view, call };
    dialog.replaceChildren(view.element);
    dialog.setAttribute('aria-labelledby', view.titleId);
    open();
    if (view.focusFirst) view.focusFirst.focus();
    clearInterval(tick);
    tick = call ? setInterval(() => everySecond(call), TICK_MS) : 0;
    clearTimeout(endedTimer);
    if (ended && !ended.lasting) endedTimer = setTimeout(dismissEnded, ENDED_SHOWN_MS);
  } else if (shown.view.update) {
    shown.view.update();
  }
}

/** The call's clock moves on, and its quality is read again. */
function everySecond(call) {
  if (measuring) return;
  measuring = true;
  call.measure().finally(() => { measuring = false; });
  shown?.view.update?.();
}

function endedView(ended) {
  const close = h('button', { type: 'button', class: 'button', onclick: dismissEnded }, t('calls.close'));
  const element = h('div', { class: 'call-screen ended', 'aria-labelledby': 'call-ended-title' },
    h('div', { class: 'call-caller' },
      h('h2', { id: 'call-ended-title', class: 'call-name' }, ended.text),
      h('p', { class: 'call-state', role: 'status', 'aria-live': 'polite' },
        t(ended.kind === 'group' ? 'calls.over_group' : 'calls.over'))),
    h('div', { class: 'call-controls' }, close));
  return { element, focusFirst: close, titleId: 'call-ended-title' };
}

function open() {
  if (dialog.open) return;
  returnFocus = document.activeElement;
  dialog.showModal();
}

function close() {
  clearInterval(tick);
  tick = 0;
  shown = null;
  if (!dialog.open) return;
  dialog.close();
  dialog.replaceChildren();
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
  returnFocus = null;
}
