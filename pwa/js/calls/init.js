// The calls domain's wiring, in one place: the call pushes it handles, what it adds to the chat screens (the call
// buttons, the join banner, call entries in the history), the call screens over the app, and the #/call route a
// call notification's Answer opens. app.js calls initCalls once at start and resetCalls at sign-out.

import { t } from '../core/i18n.js';
import { h, wideScreen } from '../core/dom.js';
import { isReady, on, onReady } from '../core/socket.js';
import { addHeaderPart, addMessageKind } from '../chat/extend.js';
import { myId } from '../chat/store.js';
import { CALL_HANDLERS, answerCall, hangUpEverything } from './actions.js';
import { callHeaderPart } from './header.js';
import { callEntryElement, callEntryPreview } from './history.js';
import { startCallScreen } from './screen.js';
import {
  answerOnArrival, currentCall, lastEnded, resetCallsStore, ringingCall, subscribe,
} from './store.js';

const ARRIVAL_TIMEOUT_MS = 20_000;
const waiting = []; // call pushes that came before the connection was ready

/**
 * Register the calls domain with the socket and the chat screens. Call once.
 *
 * Call pushes carry no seq, so they go straight from the socket (core/socket.js `on`), not through the event
 * store: the server replays a device's calls (call.state, call.invite) as it signs in, before the `auth` result,
 * when the event store does not yet know whose device this is. What they start (call.resume, an answer) needs
 * the connection ready, so pushes that come before that wait for it.
 */
export function initCalls() {
  // A frame that comes before the connection is ready is a replay of signing in (again): marked `replayed`, so a
  // group call this device is in knows to send call.resume.
  const deliver = (handler) => (frame) => {
    if (isReady()) handler(frame);
    else waiting.push(() => handler({ ...frame, replayed: true }));
  };
  for (const [type, handler] of Object.entries(CALL_HANDLERS)) on(type, deliver(handler));
  onReady(() => {
    for (const run of waiting.splice(0)) run();
  });
  addHeaderPart(callHeaderPart);
  addMessageKind('call', { element: callEntryElement, preview: (message) => callEntryPreview(message, myId()) });
  startCallScreen();
}

/** Sign-out: leave any call, stop ringing, forget the rooms. */
export function resetCalls() {
  waiting.length = 0;
  hangUpEverything();
  resetCallsStore();
}

/**
 * #/call?id=<call_id>: opened by a call notification's Answer. Once signed in, the server sends the invite again
 * (it is still ringing this user), and it is answered as it comes.
 */
export function callView({ params, signal }) {
  const callId = params.get('id') || '';
  const state = h('p', { class: 'notice', role: 'status' }, t('calls.view.connecting'));
  const links = h('p', { class: 'links' }, h('a', { href: '#/chats' }, t('calls.view.back')));
  const screen = wideScreen(t('calls.view.title'), state, links);

  let timer = 0;
  const follow = () => {
    const call = currentCall();
    if (call && call.callId === callId) {
      state.textContent = t('calls.view.in_call');
    } else if (!call && lastEnded()) {
      state.textContent = t('calls.view.ended');
    }
  };
  const stop = subscribe(follow);
  signal.addEventListener('abort', () => {
    stop();
    clearTimeout(timer);
    answerOnArrival(null);
  }, { once: true });

  if (ringingCall(callId)) {
    answerCall(callId);
  } else {
    answerOnArrival(callId);
    timer = setTimeout(() => {
      if (currentCall()?.callId === callId) return;
      answerOnArrival(null);
      state.textContent = t('calls.view.gone');
    }, ARRIVAL_TIMEOUT_MS);
  }
  return screen;
}
