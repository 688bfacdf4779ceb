// The signed-in user's chats in memory, kept current by the app's WebSocket (socket.js).
//
// After every (re)connect: `sync` from the last seq this device processed (stored per user), then the
// unacknowledged sends of the outbox go out again with their original client_id (the server answers a
// repeat with `duplicate: true`). Events are applied idempotently by (chat_id, message id), so a replay
// or a duplicate changes nothing. Screens read the state through the getters and follow `subscribe`.

import { api, getUser } from './core/api.js';
import { describeError } from './core/dom.js';
import { command, isReady, on, onReady } from './core/socket.js';

const PAGE_SIZE = 50;
const TYPING_EVERY_MS = 3000;
const READ_DELAY_MS = 300;
const STORAGE = {
  seq: (user) => `realtime.chat.seq.${user}`,
  outbox: (user) => `realtime.chat.outbox.${user}`,
  names: (user) => `realtime.chat.names.${user}`,
};

let me = null;
let lastSeq = 0;
let syncing = false;
let chatsLoaded = false;
let chatsLoading = null;
let reloadAgain = false;
let reloadTimer = 0;
let outbox = [];
let pumping = false;
let pausedUntil = 0; // the outbox waits until then (rate limit, or no answer yet)
let pumpTimer = 0;
let names = {};
const chats = new Map(); // chat id -> summary (GET /api/chats) with `me`, `last_message`, `unread`
const members = new Map(); // chat id -> [{user_id, display_name, role}] (GET /api/chats/{id}), fetched when needed
const profiles = new Map(); // user id -> display name, as the server tells members of a shared chat
const asking = new Set(); // chat ids whose members are being fetched
const histories = new Map(); // chat id -> {byId: Map, loaded, hasMore, loading}
const readPointers = new Map(); // chat id -> Map(user id -> read message id) of the other members
const typing = new Map(); // chat id -> Map(user id -> timer)
const presence = new Map(); // user id -> {online, last_seen_at} or {hidden: true}
const followed = new Map(); // user id -> how many screens follow them
const typingSentAt = new Map();
const readQueue = new Map(); // chat id -> {id, timer}
const listeners = new Set();

// -- storage ---------------------------------------------------------------------------------------

function load(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or unavailable: the state lasts as long as the page.
  }
}

function saveSeq() {
  if (me) save(STORAGE.seq(me), lastSeq);
}

function saveOutbox() {
  if (!me) return;
  const kept = outbox.map(({ chat_id, client_id, text, reply_to, attachments, files, created_at, state }) => ({
    chat_id, client_id, text, reply_to, attachments, files, created_at, state,
  }));
  save(STORAGE.outbox(me), kept.length ? kept : null);
}

/** Start working for `userId`: its stored seq, outbox and contact names. */
function useAccount(userId) {
  if (me === userId) return;
  forget();
  me = userId;
  const seq = Number(load(STORAGE.seq(userId), 0));
  lastSeq = Number.isInteger(seq) && seq > 0 ? seq : 0;
  const stored = load(STORAGE.outbox(userId), []);
  outbox = Array.isArray(stored) ? stored.filter((e) => e && typeof e.client_id === 'string') : [];
  const storedNames = load(STORAGE.names(userId), {});
  names = storedNames && typeof storedNames === 'object' ? storedNames : {};
}

function forget() {
  me = null;
  lastSeq = 0;
  chatsLoaded = false;
  chatsLoading = null;
  outbox = [];
  names = {};
  clearTimeout(reloadTimer);
  clearTimeout(pumpTimer);
  pausedUntil = 0;
  for (const byUser of typing.values()) for (const timer of byUser.values()) clearTimeout(timer);
  for (const pending of readQueue.values()) clearTimeout(pending.timer);
  for (const map of [chats, members, profiles, asking, histories, readPointers, typing, presence, followed, typingSentAt, readQueue]) {
    map.clear();
  }
}

/** Sign-out: drop everything in memory and this device's unsent messages. */
export function resetChats() {
  if (me) save(STORAGE.outbox(me), null);
  forget();
  emit({ kind: 'reset' });
}

// -- change notifications -------------------------------------------------------------------------

/**
 * `listener(change)` for every change: {kind: 'chats'} (the list), {kind: 'messages', chatId},
 * {kind: 'outbox', chatId}, {kind: 'reads', chatId}, {kind: 'typing', chatId}, {kind: 'presence', userId},
 * {kind: 'removed', chatId}, {kind: 'resync'} (the server said to start over: reload what is shown),
 * {kind: 'reset'} (signed out). Returns an unsubscribe function.
 */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(change) {
  for (const listener of [...listeners]) {
    try {
      listener(change);
    } catch (err) {
      console.error(err);
    }
  }
}

// -- who is who ------------------------------------------------------------------------------------

/** The signed-in user's id, loading the profile if this page has not seen it yet. */
export async function whoAmI({ signal } = {}) {
  if (me) return me;
  const user = getUser() || await api.get('/api/me', { signal });
  useAccount(user.id);
  return me;
}

export function myId() {
  return me;
}

/** The name to show for a user: "You", the name this user gave them, their display name, or a short id. */
export function nameOf(userId) {
  if (!userId) return 'Someone';
  if (userId === me) return 'You';
  const given = names[userId];
  if (typeof given === 'string' && given) return given;
  return profiles.get(userId) || `User ${userId.slice(0, 8)}`;
}

function rememberProfiles(list) {
  for (const person of list || []) {
    if (person && person.user_id && person.display_name) profiles.set(person.user_id, person.display_name);
  }
}

/** Remember a name for a user, on this device only (it wins over the name they chose for themselves). */
export function setContactName(userId, name) {
  const clean = (name || '').trim().slice(0, 100);
  if (clean) names[userId] = clean;
  else delete names[userId];
  if (me) save(STORAGE.names(me), names);
  emit({ kind: 'chats' });
  emit({ kind: 'presence', userId });
}

export function hasContactName(userId) {
  return Boolean(names[userId]);
}

/** The other member of a direct chat, if known. */
export function otherMember(chat) {
  if (!chat || chat.kind !== 'direct') return null;
  if (chat.peer) return chat.peer.user_id;
  const list = members.get(chat.id);
  if (list) return list.map((m) => m.user_id).find((id) => id !== me) || null;
  return chat.created_by && chat.created_by !== me ? chat.created_by : null;
}

export function chatTitle(chat) {
  if (!chat) return 'Chat';
  if (chat.kind === 'group') return chat.name || 'Group';
  const other = otherMember(chat);
  return other ? nameOf(other) : 'Direct chat';
}

/** A one-line summary of a message for the chat list and replies. */
export function previewOf(message) {
  if (!message) return '';
  if (message.deleted) return 'Message deleted';
  if (typeof message.ciphertext === 'string') return '🔒 Encrypted message';
  const text = (message.text || '').trim();
  if (text) return text.length > 120 ? `${text.slice(0, 120)}…` : text;
  const files = Array.isArray(message.attachments) ? message.attachments : [];
  if (files.length) return files[0].kind === 'image' ? '📷 Photo' : `📎 ${files[0].name || 'File'}`;
  return '';
}

// -- the chat list ---------------------------------------------------------------------------------

export function chatList() {
  return [...chats.values()].sort((a, b) => {
    const pinned = (b.me?.pinned_at || 0) - (a.me?.pinned_at || 0);
    if (pinned) return pinned;
    return (b.last_message_at || b.created_at || 0) - (a.last_message_at || a.created_at || 0);
  });
}

export function getChat(chatId) {
  return chats.get(chatId) || null;
}

export function chatsReady() {
  return chatsLoaded;
}

export function totalUnread() {
  let total = 0;
  for (const chat of chats.values()) if (!chat.me?.archived) total += chat.unread || 0;
  return total;
}

/** Load the chat list from the server (concurrent callers share one request). */
export function loadChats() {
  if (chatsLoading) {
    reloadAgain = true;
    return chatsLoading;
  }
  chatsLoading = (async () => {
    try {
      do {
        reloadAgain = false;
        const answer = await api.get('/api/chats');
        mergeChats(Array.isArray(answer?.chats) ? answer.chats : []);
      } while (reloadAgain);
    } finally {
      chatsLoading = null;
    }
  })();
  return chatsLoading;
}

function mergeChats(list) {
  const fresh = new Map();
  rememberProfiles(list.map((chat) => chat.peer));
  for (const chat of list) {
    const known = chats.get(chat.id);
    // An event may have brought a newer last message while the list was on its way.
    if (known && (known.last_message_id || 0) > (chat.last_message_id || 0)) {
      fresh.set(chat.id, { ...chat, last_message: known.last_message, last_message_id: known.last_message_id,
        last_message_at: known.last_message_at, unread: known.unread });
    } else {
      fresh.set(chat.id, chat);
    }
  }
  chats.clear();
  for (const [id, chat] of fresh) chats.set(id, chat);
  chatsLoaded = true;
  emit({ kind: 'chats' });
}

function scheduleReload() {
  if (!chatsLoaded && !chatsLoading) return; // nobody looked at the list yet: it loads fresh when they do
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadChats().catch(() => {}), 200);
}

/** GET /api/chats/{id}: the chat with its members; merged into the list. */
export async function loadChat(chatId, { signal } = {}) {
  const view = await api.get(`/api/chats/${encodeURIComponent(chatId)}`, { signal });
  members.set(chatId, Array.isArray(view.members) ? view.members : []);
  rememberProfiles(view.members);
  const known = chats.get(chatId);
  chats.set(chatId, { last_message: null, unread: 0, ...known, ...view, members: undefined });
  emit({ kind: 'chats' });
  return chats.get(chatId);
}

export function membersOf(chatId) {
  return members.get(chatId) || null;
}

export async function createDirect(userId) {
  const view = await api.post('/api/chats', { kind: 'direct', user_id: userId });
  members.set(view.id, view.members || []);
  rememberProfiles(view.members);
  chats.set(view.id, { last_message: null, unread: 0, ...chats.get(view.id), ...view, members: undefined });
  emit({ kind: 'chats' });
  return view;
}

export async function createGroup(name, memberIds) {
  const view = await api.post('/api/chats', { kind: 'group', name, members: memberIds });
  members.set(view.id, view.members || []);
  rememberProfiles(view.members);
  chats.set(view.id, { last_message: null, unread: 0, ...view, members: undefined });
  emit({ kind: 'chats' });
  return view;
}

export async function joinInvite(code) {
  const view = await api.post(`/api/invites/${encodeURIComponent(code)}/join`, {});
  scheduleReload();
  return view;
}

/** Pin, archive or mute: PATCH /api/chats/{id}/settings; the answer (and the event) update the list. */
export async function changeSettings(chatId, changes) {
  const result = await api.patch(`/api/chats/${encodeURIComponent(chatId)}/settings`, changes);
  applySettings(chatId, result);
  return result;
}

function applySettings(chatId, settings) {
  const chat = chats.get(chatId);
  if (!chat || !settings) return;
  const next = { ...chat.me };
  for (const key of ['role', 'read_id', 'delivered_id', 'pinned_at', 'muted_until', 'archived']) {
    if (key in settings) next[key] = settings[key];
  }
  chat.me = next;
  recountUnread(chat);
  emit({ kind: 'chats' });
}

// -- history ---------------------------------------------------------------------------------------

export function history(chatId) {
  return histories.get(chatId) || null;
}

/** The loaded messages of a chat, oldest first. */
export function messagesOf(chatId) {
  const record = histories.get(chatId);
  if (!record) return [];
  return [...record.byId.values()].sort((a, b) => a.id - b.id);
}

export function findMessage(chatId, messageId) {
  return histories.get(chatId)?.byId.get(messageId) || null;
}

/** Load the latest page (first time) or the page before the oldest loaded message (`older`). */
export async function loadHistory(chatId, { older = false, signal } = {}) {
  let record = histories.get(chatId);
  if (!record) {
    record = { byId: new Map(), loaded: false, hasMore: true, loading: null };
    histories.set(chatId, record);
  }
  if (record.loading) return record.loading;
  if (record.loaded && !older) return record;
  if (older && !record.hasMore) return record;
  const oldest = record.loaded ? Math.min(...record.byId.keys()) : null;
  const query = older && Number.isFinite(oldest) ? `?before=${oldest}&limit=${PAGE_SIZE}` : `?limit=${PAGE_SIZE}`;
  record.loading = (async () => {
    try {
      const page = await api.get(`/api/chats/${encodeURIComponent(chatId)}/messages${query}`, { signal });
      for (const message of page.messages || []) {
        // A message already here came from an event, which is at least as new as this page.
        if (!record.byId.has(message.id)) record.byId.set(message.id, message);
      }
      record.hasMore = Boolean(page.has_more);
      record.loaded = true;
      const chat = chats.get(chatId);
      if (chat && typeof page.read_id === 'number') {
        chat.me = { ...chat.me, read_id: Math.max(chat.me?.read_id || 0, page.read_id) };
      }
      emit({ kind: 'messages', chatId });
      return record;
    } finally {
      record.loading = null;
    }
  })();
  return record.loading;
}

// -- read receipts ---------------------------------------------------------------------------------

/** The highest message id `userId` has read in `chatId`, as far as this device knows. */
export function readPointer(chatId, userId) {
  return readPointers.get(chatId)?.get(userId) || 0;
}

function raisePointer(chatId, userId, messageId) {
  if (!readPointers.has(chatId)) readPointers.set(chatId, new Map());
  const map = readPointers.get(chatId);
  if ((map.get(userId) || 0) >= messageId) return false;
  map.set(userId, messageId);
  return true;
}

/** Ask the server who has read `messageId` (the other members' pointers before this page knew them). */
export async function loadReaders(chatId, messageId) {
  const answer = await api.get(
    `/api/chats/${encodeURIComponent(chatId)}/messages/${messageId}/readers`);
  let changed = false;
  for (const userId of answer.read_by || []) changed = raisePointer(chatId, userId, messageId) || changed;
  if (changed) emit({ kind: 'reads', chatId });
}

/** Mark the chat read up to `messageId` (debounced: the highest id of a burst is sent once). */
export function markRead(chatId, messageId) {
  const chat = chats.get(chatId);
  if (chat && (chat.me?.read_id || 0) >= messageId) return;
  const pending = readQueue.get(chatId);
  if (pending && pending.id >= messageId) return;
  if (pending) clearTimeout(pending.timer);
  const timer = setTimeout(() => {
    readQueue.delete(chatId);
    command('chat.read', { chat_id: chatId, message_id: messageId }).then((result) => {
      applySettings(chatId, { read_id: result.read_id, delivered_id: result.delivered_id });
    }, () => {
      // Not connected: the next visit marks it again.
    });
  }, READ_DELAY_MS);
  readQueue.set(chatId, { id: messageId, timer });
}

function recountUnread(chat) {
  const readId = chat.me?.read_id || 0;
  if (readId >= (chat.last_message_id || 0)) {
    chat.unread = 0;
    return;
  }
  const record = histories.get(chat.id);
  if (!record || !record.loaded) return;
  const ids = [...record.byId.keys()];
  const covered = !record.hasMore || (ids.length && Math.min(...ids) <= readId + 1);
  if (!covered) return;
  chat.unread = [...record.byId.values()]
    .filter((m) => m.id > readId && !m.deleted && m.sender_id !== me).length;
}

// -- typing and presence ---------------------------------------------------------------------------

/** Tell the others that the user is typing: at most once every 3 s per chat. */
export function sendTyping(chatId) {
  const now = Date.now();
  if (now - (typingSentAt.get(chatId) || 0) < TYPING_EVERY_MS) return;
  typingSentAt.set(chatId, now);
  command('chat.typing', { chat_id: chatId }).catch(() => {});
}

/** The ids of the members typing in `chatId` right now. */
export function typingIn(chatId) {
  return [...(typing.get(chatId)?.keys() || [])];
}

function stopTyping(chatId, userId) {
  const byUser = typing.get(chatId);
  if (!byUser || !byUser.has(userId)) return;
  clearTimeout(byUser.get(userId));
  byUser.delete(userId);
  emit({ kind: 'typing', chatId });
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

// -- sending ---------------------------------------------------------------------------------------

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** This chat's messages that the server has not acknowledged yet, oldest first. */
export function pendingIn(chatId) {
  return outbox.filter((entry) => entry.chat_id === chatId);
}

/**
 * Send a message. It waits in the outbox (kept across reloads) with its client_id until the server
 * acknowledges it; after a reconnect it goes out again, and the server never stores it twice.
 * `files`: the uploaded attachments' descriptors (id, kind, name…).
 */
export function sendMessage(chatId, { text = '', replyTo = null, files = [] }) {
  const entry = {
    chat_id: chatId,
    client_id: newClientId(),
    text,
    reply_to: replyTo,
    attachments: files.map((f) => f.id),
    files,
    created_at: Date.now() / 1000,
    state: 'sending',
  };
  outbox.push(entry);
  saveOutbox();
  emit({ kind: 'outbox', chatId });
  pump();
  return entry;
}

/**
 * Send the outbox one message at a time, oldest first, so messages arrive in the order they were
 * written even when one has to wait (rate limit) or go again (reconnect).
 */
async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    for (;;) {
      const wait = pausedUntil - Date.now();
      if (wait > 0) {
        clearTimeout(pumpTimer);
        pumpTimer = setTimeout(pump, wait);
        return;
      }
      const entry = outbox.find((e) => e.state === 'sending');
      if (!entry || !isReady()) return; // the next connection's ready hook starts it again
      if (await transmit(entry) === 'offline') return;
    }
  } finally {
    pumping = false;
  }
}

/** One message.send: 'sent' | 'failed' (refused: the user decides) | 'later' | 'offline'. */
async function transmit(entry) {
  const fields = { chat_id: entry.chat_id, client_id: entry.client_id, text: entry.text };
  if (entry.reply_to) fields.reply_to = entry.reply_to;
  if (entry.attachments && entry.attachments.length) fields.attachments = entry.attachments;
  try {
    acknowledge(await command('message.send', fields));
    return 'sent';
  } catch (err) {
    if (err.status === 0 && err.code === 'timeout') {
      pausedUntil = Date.now() + 3000; // no answer yet: ask again (same client_id) in a moment
      return 'later';
    }
    if (err.status === 0) return 'offline';
    if (err.status === 429) {
      pausedUntil = Date.now() + (err.retryAfter || 5) * 1000;
      return 'later';
    }
    entry.state = 'failed';
    entry.error = describeError(err);
    saveOutbox();
    emit({ kind: 'outbox', chatId: entry.chat_id });
    return 'failed';
  }
}

function acknowledge(message) {
  const { duplicate, ...stored } = message;
  const before = outbox.length;
  outbox = outbox.filter((entry) => entry.client_id !== stored.client_id);
  if (outbox.length !== before) {
    saveOutbox();
    emit({ kind: 'outbox', chatId: stored.chat_id });
  }
  applyMessage(stored, { fresh: !duplicate });
}

export function retrySend(clientId) {
  const entry = outbox.find((e) => e.client_id === clientId);
  if (!entry) return;
  entry.state = 'sending';
  entry.error = null;
  saveOutbox();
  emit({ kind: 'outbox', chatId: entry.chat_id });
  pump();
}

export function discardSend(clientId) {
  const entry = outbox.find((e) => e.client_id === clientId);
  if (!entry) return;
  outbox = outbox.filter((e) => e !== entry);
  saveOutbox();
  emit({ kind: 'outbox', chatId: entry.chat_id });
}

// -- other message actions (they need the connection; the events bring the result to every device) --

export function editMessage(chatId, messageId, text) {
  return command('message.edit', { chat_id: chatId, message_id: messageId, text }).then((message) => {
    applyMessage(message, { fresh: false });
    return message;
  });
}

export function deleteMessage(chatId, messageId, forEveryone) {
  return command('message.delete', { chat_id: chatId, message_id: messageId, for_everyone: forEveryone })
    .then((result) => {
      if (forEveryone) applyDeleted(chatId, messageId);
      else applyHidden(chatId, messageId);
      return result;
    });
}

export function react(chatId, messageId, emoji, onOff) {
  return command('message.react', { chat_id: chatId, message_id: messageId, emoji, on: onOff }).then((result) => {
    applyReaction(chatId, messageId, me, emoji, onOff);
    return result;
  });
}

// -- applying events -------------------------------------------------------------------------------

function applyMessage(message, { fresh }) {
  if (!message || typeof message.chat_id !== 'string' || typeof message.id !== 'number') return;
  const chatId = message.chat_id;
  const record = histories.get(chatId);
  if (record) {
    record.byId.set(message.id, message);
    emit({ kind: 'messages', chatId });
  }
  if (message.sender_id && message.sender_id !== me) stopTyping(chatId, message.sender_id);
  const chat = chats.get(chatId);
  if (!chat) {
    if (fresh) scheduleReload();
    return;
  }
  if (message.id > (chat.last_message_id || 0) || !chat.last_message) {
    if (message.id >= (chat.last_message_id || 0)) {
      chat.last_message = message;
      chat.last_message_id = message.id;
      chat.last_message_at = Math.max(chat.last_message_at || 0, message.created_at || 0);
      if (message.sender_id !== me && message.id > (chat.me?.read_id || 0) && !message.deleted) {
        chat.unread = (chat.unread || 0) + 1;
      }
    }
  } else if (chat.last_message && chat.last_message.id === message.id) {
    chat.last_message = message;
  }
  emit({ kind: 'chats' });
}

function applyDeleted(chatId, messageId) {
  const record = histories.get(chatId);
  const known = record?.byId.get(messageId);
  if (known) {
    const { attachments, reactions, ...rest } = known;
    record.byId.set(messageId, { ...rest, deleted: true, text: null, ciphertext: undefined });
    emit({ kind: 'messages', chatId });
  }
  const chat = chats.get(chatId);
  if (chat && chat.last_message && chat.last_message.id === messageId) {
    chat.last_message = { ...chat.last_message, deleted: true, text: null };
    emit({ kind: 'chats' });
  }
  if (chat) {
    recountUnread(chat);
    emit({ kind: 'chats' });
  }
}

function applyHidden(chatId, messageId) {
  const record = histories.get(chatId);
  if (record && record.byId.delete(messageId)) emit({ kind: 'messages', chatId });
  const chat = chats.get(chatId);
  if (chat && chat.last_message && chat.last_message.id === messageId) {
    const rest = messagesOf(chatId);
    chat.last_message = rest.length ? rest[rest.length - 1] : null;
    emit({ kind: 'chats' });
  }
}

function applyReaction(chatId, messageId, userId, emoji, onOff) {
  const record = histories.get(chatId);
  const message = record?.byId.get(messageId);
  if (!message) return;
  const reactions = { ...(message.reactions || {}) };
  const users = new Set(reactions[emoji] || []);
  if (onOff) users.add(userId);
  else users.delete(userId);
  if (users.size) reactions[emoji] = [...users];
  else delete reactions[emoji];
  record.byId.set(messageId, { ...message, reactions });
  emit({ kind: 'messages', chatId });
}

function applyPointer(frame) {
  if (frame.user_id === me) {
    const chat = chats.get(frame.chat_id);
    if (chat && frame.type === 'chat.read') applySettings(frame.chat_id, { read_id: Math.max(chat.me?.read_id || 0, frame.message_id) });
    return;
  }
  if (frame.type === 'chat.read' && raisePointer(frame.chat_id, frame.user_id, frame.message_id)) {
    emit({ kind: 'reads', chatId: frame.chat_id });
  }
}

const APPLY = {
  'message.new': (f) => {
    if (!f.message) return; // from a chat you have left since
    acknowledgeIfMine(f.message);
    applyMessage(f.message, { fresh: true });
  },
  'message.edited': (f) => f.message && applyMessage(f.message, { fresh: false }),
  'message.deleted': (f) => applyDeleted(f.chat_id, f.message_id),
  'message.hidden': (f) => applyHidden(f.chat_id, f.message_id),
  reaction: (f) => applyReaction(f.chat_id, f.message_id, f.user_id, f.emoji, f.on),
  'chat.read': applyPointer,
  'chat.delivered': () => {},
  'chat.settings': (f) => applySettings(f.chat_id, f),
  'chat.created': () => scheduleReload(),
  'chat.updated': (f) => {
    const chat = chats.get(f.chat_id);
    if (chat) {
      if ('name' in f) chat.name = f.name;
      if ('description' in f) chat.description = f.description;
      emit({ kind: 'chats' });
    }
  },
  'chat.removed': (f) => {
    chats.delete(f.chat_id);
    histories.delete(f.chat_id);
    members.delete(f.chat_id);
    emit({ kind: 'removed', chatId: f.chat_id });
    emit({ kind: 'chats' });
  },
  'member.added': (f) => refreshMembers(f.chat_id),
  'member.removed': (f) => refreshMembers(f.chat_id),
  'member.left': (f) => refreshMembers(f.chat_id),
  'member.role': (f) => refreshMembers(f.chat_id),
};

function refreshMembers(chatId) {
  if (!members.has(chatId) || asking.has(chatId)) return; // nobody looked at them yet
  asking.add(chatId);
  loadChat(chatId).catch(() => {}).finally(() => asking.delete(chatId));
}

function acknowledgeIfMine(message) {
  if (message.sender_id !== me || !message.client_id) return;
  const before = outbox.length;
  outbox = outbox.filter((entry) => entry.client_id !== message.client_id);
  if (outbox.length !== before) {
    saveOutbox();
    emit({ kind: 'outbox', chatId: message.chat_id });
  }
}

function numbered(frame) {
  if (!me) return;
  const apply = APPLY[frame.type];
  if (apply) apply(frame);
  if (!syncing && typeof frame.seq === 'number' && frame.seq > lastSeq) {
    lastSeq = frame.seq;
    saveSeq();
  }
}

for (const type of Object.keys(APPLY)) on(type, numbered);

on('typing', (frame) => {
  if (!me || frame.user_id === me || typeof frame.chat_id !== 'string') return;
  if (!typing.has(frame.chat_id)) typing.set(frame.chat_id, new Map());
  const byUser = typing.get(frame.chat_id);
  clearTimeout(byUser.get(frame.user_id));
  const seconds = Math.min(Math.max(Number(frame.expires_in) || 6, 1), 30);
  byUser.set(frame.user_id, setTimeout(() => stopTyping(frame.chat_id, frame.user_id), seconds * 1000));
  emit({ kind: 'typing', chatId: frame.chat_id });
});

on('presence', (frame) => setPresence(frame));

// After every (re)connect: catch up from the last seq, then resend, then follow presence again.
onReady(async ({ userId }) => {
  useAccount(userId);
  syncing = true;
  try {
    let after = lastSeq;
    for (;;) {
      const result = await command('sync', { after_seq: after });
      if (result.reset) {
        // Our seq is not this account's: start over from the server's state.
        histories.clear();
        readPointers.clear();
        after = result.last_seq;
        emit({ kind: 'resync' });
        scheduleReload();
        break;
      }
      after = result.last_seq;
      if (!result.more) break;
    }
    lastSeq = after;
    saveSeq();
  } finally {
    syncing = false;
  }
  pump();
  if (followed.size) requestPresence([...followed.keys()]);
  // The list behind the unread counts (the navigation shows them on every screen).
  if (!chatsLoaded && !chatsLoading) loadChats().catch(() => {});
});
