// Who is online: the users the screens follow (`presence.follow`), and the `presence` pushes (not numbered).
// While this device is offline or its socket is down, what it last heard may be stale: nobody shows as online.

import { command, on, onStatus } from '../core/socket.js';
import { emit } from './store.js';

const presence = new Map(); // user id -> {online, last_seen_at} or {hidden: true}
const followed = new Map(); // user id -> how many screens follow them
let connected = false; // the device is online and the socket is live: presence is current

/** Follow the `presence` pushes; chat/init.js calls it once. Returns the function that stops following. */
export function startPresence() {
  let socketLive = false;
  const check = () => {
    const now = navigator.onLine && socketLive;
    if (now === connected) return;
    connected = now;
    for (const userId of presence.keys()) emit({ kind: 'presence', userId });
  };
  const stops = [on('presence', (frame) => setPresence(frame)), onStatus((state) => {
    socketLive = state === 'live';
    check();
  })];
  window.addEventListener('online', check);
  window.addEventListener('offline', check);
  return () => {
    for (const stop of stops) stop();
    window.removeEventListener('online', check);
    window.removeEventListener('offline', check);
  };
}

/** A user's presence: {online, last_seen_at} or {hidden: true}, or null; never online while we are not. */
export function presenceOf(userId) {
  const state = presence.get(userId) || null;
  if (state && state.online && !connected) return { online: false, last_seen_at: null };
  return state;
}

/** Follow users' presence while a screen shows them; returns the function that stops following. */
export function followPresence(userIds) {
  const fresh = [];
  for (const id of userIds) {
    const count = followed.get(id) || 0;
    followed.set(id, count + 1);
    if (count === 0) fresh.push(id);
  }
  if (fresh.length) requestPresence(fresh);
  return () => {
    const gone = [];
    for (const id of userIds) {
      const count = (followed.get(id) || 1) - 1;
      if (count > 0) followed.set(id, count);
      else {
        followed.delete(id);
        gone.push(id);
      }
    }
    if (gone.length) command('presence.unfollow', { user_ids: gone }).catch(() => {});
  };
}

/** After a reconnect: follow again everyone the screens follow (the server forgot them with the connection). */
export function followAgain() {
  if (followed.size) requestPresence([...followed.keys()]);
}

/** Another user's chats (or none): follow nobody. */
export function forgetPresence() {
  presence.clear();
  followed.clear();
}

function requestPresence(userIds) {
  command('presence.follow', { user_ids: userIds }).then((result) => {
    for (const state of result.presence || []) setPresence(state);
  }, () => {
    // Not connected: followed again after the reconnect.
  });
}

function setPresence(state) {
  if (!state || typeof state.user_id !== 'string') return;
  presence.set(state.user_id, state.hidden ? { hidden: true } : { online: Boolean(state.online), last_seen_at: state.last_seen_at });
  emit({ kind: 'presence', userId: state.user_id });
}
