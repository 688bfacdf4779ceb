// The signed-in user's chats in memory: the chat list, members, names and loaded histories, with the change
// notifications the screens follow. Events (chat/init.js), sends (chat/outbox.js) and message actions
// (chat/messages.js) change it; screens read it through the getters and follow `subscribe`.

import { t } from '../core/i18n.js';
import { api, getUser, isSignedIn } from '../core/api.js';
import { loadJson, saveJson } from '../core/storage.js';
import { messageKind } from './extend.js';
import { dropHistory, forgetHistories, getWhenOnline, history, keepHistory } from './history.js';

// The loaded histories live in chat/history.js; they are part of this module's interface all the same.
export { findMessage, forgetHistories, history, loadHistory, messagesOf } from './history.js';

const namesKey = (user) => `realtime.chat.names.${user}`;
const OWNER_KEY = 'realtime.chat.owner'; // whose chats this device keeps: who to be when offline at start

let me = null;
let names = {};
let chatsLoaded = false;
let chatsLoading = null;
let reloadAgain = false;
let reloadTimer = 0;
let fromCache = false; // the list shown is the one kept on this device, not yet the server's
let settling = Promise.resolve(); // the account listeners' work (reading the kept chats) screens wait for
const chats = new Map(); // chat id -> summary (GET /api/chats) with `me`, `last_message`, `unread`
const members = new Map(); // chat id -> [{user_id, display_name, role}] (GET /api/chats/{id}), fetched when needed
const profiles = new Map(); // user id -> display name, as the server tells members of a shared chat
const asking = new Set(); // chat ids whose members are being fetched
const touched = new Map(); // chat id -> `clock` when its details last came from GET /api/chats/{id} or an event
let clock = 0;
const listeners = new Set();
const accountListeners = new Set();

// -- whose chats -----------------------------------------------------------------------------------

/** Start working for `userId`: its contact names here, its outbox and the rest through `onAccount`. */
export function useAccount(userId) {
  if (me === userId) return;
  forget();
  me = userId;
  saveJson(OWNER_KEY, userId);
  const storedNames = loadJson(namesKey(userId), {});
  names = storedNames && typeof storedNames === 'object' ? storedNames : {};
  tellAccount(userId);
}

/** Sign-out: drop everything in memory (chat/init.js drops this device's unsent messages first). */
export function resetStore() {
  forget();
  saveJson(OWNER_KEY, null);
  tellAccount(null);
  emit({ kind: 'reset' });
}

function forget() {
  me = null;
  chatsLoaded = false;
  chatsLoading = null;
  fromCache = false;
  names = {};
  clearTimeout(reloadTimer);
  for (const map of [chats, members, profiles, asking]) map.clear();
  forgetHistories();
}

/**
 * `listener(userId)` when the chats change hands (null: signed out), for the state kept beside this store; a
 * promise it returns (reading what this device kept) is waited for by whoAmI().
 */
export function onAccount(listener) {
  accountListeners.add(listener);
  return () => accountListeners.delete(listener);
}

function tellAccount(userId) {
  settling = Promise.allSettled([...accountListeners].map((listener) => listener(userId)));
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

/** Tell every screen that follows the store about `change` (the chat modules call it). */
export function emit(change) {
  for (const listener of [...listeners]) {
    try {
      listener(change);
    } catch (err) {
      console.error(err);
    }
  }
}

// -- who is who ------------------------------------------------------------------------------------

/**
 * The signed-in user's id, loading the profile if this page has not seen it yet (offline: the user whose chats
 * this device keeps), once the chats kept on this device are in the store.
 */
export async function whoAmI({ signal } = {}) {
  if (!me) {
    const user = getUser() || await api.get('/api/me', { signal }).catch((err) => {
      const owner = loadJson(OWNER_KEY, null);
      if (err?.status === 0 && typeof owner === 'string' && isSignedIn()) return { id: owner };
      throw err;
    });
    useAccount(user.id);
  }
  await settling;
  return me;
}

export function myId() {
  return me;
}

/** The name to show for a user: "You", the name this user gave them, their display name, or a short id. */
export function nameOf(userId) {
  if (!userId) return t('chat.s.someone');
  if (userId === me) return t('chat.s.you');
  const given = names[userId];
  if (typeof given === 'string' && given) return given;
  return profiles.get(userId) || t('chat.s.user', { id: userId.slice(0, 8) });
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
  if (me) saveJson(namesKey(me), names);
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
  if (!chat) return t('chat.s.chat');
  if (chat.kind === 'group') return chat.name || t('chat.s.group');
  const other = otherMember(chat);
  return other ? nameOf(other) : t('chat.s.direct');
}

/** A one-line summary of a message for the chat list and replies. */
export function previewOf(message) {
  if (!message) return '';
  if (message.deleted) return t('chat.s.deleted');
  if (typeof message.ciphertext === 'string' && message.sealed !== 'open') return t('chat.s.encrypted'); // not read here
  const kind = message.kind && message.kind !== 'text' ? messageKind(message.kind) : null;
  if (kind) return kind.preview(message);
  const text = (message.text || '').trim();
  if (text) return text.length > 120 ? `${text.slice(0, 120)}…` : text;
  const list = message.sealed === 'open' ? message.files : message.attachments; // e2e: the decrypted list
  const files = Array.isArray(list) ? list : [];
  if (files.length) return files[0].kind === 'image' ? `📷 ${t('chat.b.photo')}` : `📎 ${files[0].name || t('chat.b.file')}`;
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
        const asked = ++clock;
        const answer = await api.get('/api/chats');
        mergeChats(Array.isArray(answer?.chats) ? answer.chats : [], asked);
      } while (reloadAgain);
    } finally {
      chatsLoading = null;
    }
  })();
  return chatsLoading;
}

/** Load the list unless it is loaded or on its way: the navigation's unread count needs it on every screen. */
export function loadChatsOnce() {
  if ((!chatsLoaded || fromCache) && !chatsLoading) loadChats().catch(() => {});
}

/** What this device kept (chat/cache.js), until the server's arrives; whatever is here already wins. */
export function seedFromCache({ list, memberLists, people, kept }) {
  if (!chatsLoaded) for (const chat of list) if (!chats.has(chat.id)) chats.set(chat.id, chat);
  for (const [chatId, those] of memberLists) if (!members.has(chatId)) members.set(chatId, those);
  for (const [userId, name] of people) if (!profiles.has(userId)) profiles.set(userId, name);
  const seeded = kept.filter(({ chatId }) => chats.has(chatId) && !history(chatId));
  for (const { chatId, messages, hasMore } of seeded) keepHistory(chatId, messages, hasMore);
  fromCache = fromCache || !chatsLoaded;
  chatsLoaded = true;
  emit({ kind: 'chats' });
  for (const { chatId } of seeded) emit({ kind: 'messages', chatId });
}

/** [user id, display name] of the people the server has named to this device. */
export function profileEntries() {
  return [...profiles];
}

function mergeChats(list, asked) {
  const fresh = new Map();
  rememberProfiles(list.map((chat) => chat.peer));
  for (const listed of list) {
    const known = chats.get(listed.id);
    // A chat fetched, renamed or set while the list was on its way is newer here than in the list.
    const chat = known && (touched.get(listed.id) || 0) > asked ? { ...listed, ...known } : listed;
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
  for (const id of touched.keys()) if (!chats.has(id)) touched.delete(id);
  chatsLoaded = true;
  fromCache = false;
  emit({ kind: 'chats' });
}

/** Reload the list soon (a burst of events reloads it once), if anybody has looked at it yet. */
export function scheduleReload() {
  if (!chatsLoaded && !chatsLoading) return; // nobody looked at the list yet: it loads fresh when they do
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadChats().catch(() => {}), 200);
}

/**
 * GET /api/chats/{id}: the chat with its members; merged into the list. Offline: the chat as this device has it,
 * else (with a `signal`) the answer once the device is back online.
 */
export async function loadChat(chatId, { signal } = {}) {
  const path = `/api/chats/${encodeURIComponent(chatId)}`;
  const view = chats.has(chatId) ? await api.get(path, { signal }).catch((err) => {
    if (err?.status === 0 && chats.has(chatId)) return null;
    throw err;
  }) : await getWhenOnline(path, signal);
  if (!view) return chats.get(chatId);
  members.set(chatId, Array.isArray(view.members) ? view.members : []);
  rememberProfiles(view.members);
  const known = chats.get(chatId);
  chats.set(chatId, { last_message: null, unread: 0, ...known, ...view, members: undefined });
  touched.set(chatId, ++clock);
  emit({ kind: 'chats' });
  return chats.get(chatId);
}

/** A `chat.updated` event: the group's new name, description or picture. */
export function applyChatUpdate(chatId, fields) {
  const chat = chats.get(chatId);
  if (!chat) return;
  for (const key of ['name', 'description', 'avatar_id', 'broadcast']) if (key in fields) chat[key] = fields[key];
  touched.set(chatId, ++clock);
  emit({ kind: 'chats' });
}

export function membersOf(chatId) {
  return members.get(chatId) || null;
}

/** Fetch the members again after a change, if a screen has asked for them (one request at a time). */
export function refreshMembers(chatId) {
  if (!members.has(chatId) || asking.has(chatId)) return; // nobody looked at them yet
  asking.add(chatId);
  loadChat(chatId).catch(() => {}).finally(() => asking.delete(chatId));
}

/** The direct chat of this kind with a user (`e2e`: the end-to-end one; a pair may have one of each), found or made. */
export async function createDirect(userId, { e2e = false } = {}) {
  const view = await api.post('/api/chats', { kind: 'direct', user_id: userId, ...(e2e ? { e2e } : {}) });
  members.set(view.id, view.members || []);
  rememberProfiles(view.members);
  chats.set(view.id, { last_message: null, unread: 0, ...chats.get(view.id), ...view, members: undefined });
  emit({ kind: 'chats' });
  return view;
}

export async function createGroup(name, memberIds, { e2e = false, broadcast = false } = {}) {
  const view = await api.post('/api/chats', {
    kind: 'group', name, members: memberIds, ...(e2e ? { e2e } : {}), ...(broadcast ? { broadcast } : {}),
  });
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

/** The user left or was removed: nothing of this chat stays here. */
export function removeChat(chatId) {
  chats.delete(chatId);
  dropHistory(chatId);
  members.delete(chatId);
  emit({ kind: 'removed', chatId });
  emit({ kind: 'chats' });
}

/** Pin, archive or mute: PATCH /api/chats/{id}/settings; the answer (and the event) update the list. */
export async function changeSettings(chatId, changes) {
  const result = await api.patch(`/api/chats/${encodeURIComponent(chatId)}/settings`, changes);
  applySettings(chatId, result);
  return result;
}

/** The user's own settings of a chat (role, read and delivery pointers, pin, mute, archive) changed. */
export function applySettings(chatId, settings) {
  const chat = chats.get(chatId);
  if (!chat || !settings) return;
  const next = { ...chat.me };
  for (const key of ['role', 'read_id', 'delivered_id', 'pinned_at', 'muted_until', 'archived']) {
    if (key in settings) next[key] = settings[key];
  }
  chat.me = next;
  recountUnread(chat);
  touched.set(chatId, ++clock);
  emit({ kind: 'chats' });
}

/** Count the unread messages again, when the loaded history covers everything after the read pointer. */
export function recountUnread(chat) {
  const readId = chat.me?.read_id || 0;
  if (readId >= (chat.last_message_id || 0)) {
    chat.unread = 0;
    return;
  }
  const record = history(chat.id);
  if (!record || !record.loaded) return;
  const ids = [...record.byId.keys()];
  const covered = !record.hasMore || (ids.length && Math.min(...ids) <= readId + 1);
  if (!covered) return;
  chat.unread = [...record.byId.values()]
    .filter((m) => m.id > readId && !m.deleted && !m.silent && m.sender_id !== me).length;
}
