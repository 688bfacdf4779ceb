// The calls of this device in memory: the one call it is in (a 1:1 DirectCall or a GroupCall), the invites
// ringing it, and each group chat's call room as the server last told it; with this device's party_id and the
// ICE servers. The call screens (calls/screen.js) and the chat's header (calls/header.js) follow `subscribe`.

import { api } from '../core/api.js';
import { loadJson, saveJson } from '../core/storage.js';
import { getChat, loadChat } from '../chat/store.js';

const PARTY_KEY = 'realtime.calls.party_id';
const ICE_EARLY_S = 60; // fetch new TURN credentials a minute before they expire

let current = null; // the DirectCall or GroupCall this device is in
let ended = null; // {reason, text, media} of the call that just ended, shown for a moment
const ringing = new Map(); // call_id -> the call.invite frame, while it rings this device
const rooms = new Map(); // chat_id -> the group's call (a call.room frame) while one is on
const listeners = new Set();
let ice = null; // {servers, expiresAt}
let answerWhenRinging = null; // a call_id to answer as soon as its invite is here (#/call?id=…)

/** This device's party_id: made once, kept in localStorage, the same after every sign-in. */
export function partyId() {
  let id = loadJson(PARTY_KEY, null);
  if (typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id)) return id;
  id = randomId();
  saveJson(PARTY_KEY, id);
  return id;
}

/** A call_id: a UUID where the browser makes them, random hex otherwise. */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** STUN and TURN servers for a peer connection (GET /api/calls/ice-servers), fetched again before they expire. */
export async function iceServers() {
  if (ice && ice.expiresAt - ICE_EARLY_S > Date.now() / 1000) return ice.servers;
  const body = await api.get('/api/calls/ice-servers');
  const servers = body.ice_servers || body.iceServers || [];
  ice = { servers, expiresAt: body.expires_at || Date.now() / 1000 + (body.ttl || 600) };
  return servers;
}

// -- change notifications ---------------------------------------------------------------------------

/** `listener()` after any change of the calls' state; returns an unsubscribe function. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function emit() {
  for (const listener of [...listeners]) {
    try {
      listener();
    } catch (err) {
      console.error(err);
    }
  }
}

// -- the call this device is in -----------------------------------------------------------------------

export function currentCall() {
  return current;
}

export function setCurrent(call) {
  current = call;
  if (call) ended = null;
  emit();
}

/** The call ended: keep a line on why, shown for a moment by the call screen. */
export function finishCurrent(call, outcome) {
  if (current !== call) return;
  current = null;
  ended = outcome;
  emit();
}

export function lastEnded() {
  return ended;
}

export function dismissEnded() {
  ended = null;
  emit();
}

// -- invites ringing this device ------------------------------------------------------------------

export function addRinging(invite) {
  // A call in a direct chat the callee has not seen yet (no message so far: not in their list): it rings once
  // the chat is loaded, so the ringing screen can name the caller.
  if (invite.chat_id && !getChat(invite.chat_id)) {
    loadChat(invite.chat_id).catch(() => {}).finally(() => {
      ringing.set(invite.call_id, invite);
      emit();
    });
    return;
  }
  ringing.set(invite.call_id, invite);
  emit();
}

export function removeRinging(callId) {
  if (ringing.delete(callId)) emit();
}

export function ringingCall(callId) {
  return ringing.get(callId) || null;
}

/** The invite to show: the first one still ringing (a second waits behind it). */
export function firstRinging() {
  const now = Date.now() / 1000;
  for (const [id, invite] of ringing) {
    if (invite.expires_at && invite.expires_at < now) ringing.delete(id);
    else return invite;
  }
  return null;
}

/** Answer the call `callId` as soon as its invite is here (the notification's Answer); null: no longer. */
export function answerOnArrival(callId) {
  answerWhenRinging = callId;
}

export function takeAnswerOnArrival(callId) {
  if (answerWhenRinging !== callId) return false;
  answerWhenRinging = null;
  return true;
}

// -- group rooms ------------------------------------------------------------------------------------

export function setRoom(chatId, room) {
  if (room && room.state !== 'ended') rooms.set(chatId, room);
  else rooms.delete(chatId);
  emit();
}

export function roomOf(chatId) {
  return rooms.get(chatId) || null;
}

/** Sign-out: hang nothing up here (calls/init.js does), just forget. */
export function resetCallsStore() {
  current = null;
  ended = null;
  ringing.clear();
  rooms.clear();
  ice = null;
  answerWhenRinging = null;
  emit();
}
