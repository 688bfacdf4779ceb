// Who is online: the users the screens follow (`presence.follow`), and the `presence` pushes (not numbered).

import { command, on } from '../core/socket.js';
import { emit } from './store.js';

const presence = new Map(); // user id -> {online, last_seen_at} or {hidden: true}
const followed = new Map(); // user id -> how many screens follow them

/** Follow the `presence` pushes; chat/init.js calls it once. Returns the function that stops following. */
export function startPresence() {
  return on('presence', (frame) => setPresence(frame));
}

export function presenceOf(userId) {
  return presence.get(userId) || null;
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
