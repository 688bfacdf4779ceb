// The chats this device keeps for reading offline, in IndexedDB (core/idb.js): the chat list with the members and
// names it shows, the last LAST_MESSAGES messages of each chat read here (with how far the others read them),
// and the event seq all of that is complete up to. Read at start, before the network (the sync then goes on from
// that seq); written as the store changes, at most once every WRITE_EVERY_MS; one account's only: a sign-out
// deletes it, and another account finds it emptied before anything is read.

import { dropDatabase, openKeeper } from '../core/idb.js';
import { keepPointers, pointersOf } from './receipts.js';
import { sealedOnly } from './sealed.js';
import { chatList, getChat, history, membersOf, messagesOf, profileEntries, seedFromCache, subscribe } from './store.js';

const DB_NAME = 'realtime-chats';
const DB_VERSION = 1;
// meta: 'state' -> {owner, seq, list, members, people, saved_at}; chats: chat id -> {messages, has_more, pointers}
const STORES = ['meta', 'chats'];
const LAST_MESSAGES = 50;
const WRITE_EVERY_MS = 1000;

let keeper = null; // Promise<Keeper|null>, opened when first needed
let owner = null; // whose chats are kept: the store's account
let generation = 0; // moves on with every change of account; a read or write begun for an earlier one stops
let synced = false; // the store has caught up with the server once since this account was taken up
let restoredSeq = null; // the seq of what was read at start, until the first sync takes it
let seqNow = () => 0;
let timer = 0;
let listChanged = false;
let wipe = false; // the server said to start over: the kept messages go
const changed = new Set(); // chat ids whose kept messages are out of date
const keptIds = new Set(); // chat ids with kept messages

function database() {
  if (!keeper) keeper = typeof indexedDB === 'undefined' ? Promise.resolve(null) : openKeeper(DB_NAME, DB_VERSION, STORES);
  return keeper;
}

/** Follow the store's changes; `seq()` is the event store's last seq. chat/init.js calls it once. */
export function initChatCache({ seq }) {
  seqNow = seq;
  subscribe((change) => {
    if (change.kind === 'chats') listChanged = true;
    else if ((change.kind === 'messages' || change.kind === 'reads') && change.chatId) changed.add(change.chatId);
    else if (change.kind === 'removed' && change.chatId) {
      changed.add(change.chatId);
      listChanged = true;
    } else if (change.kind === 'resync') {
      wipe = true;
      listChanged = true;
    } else return;
    schedule();
  });
  // Leaving or hiding the page: write what is waiting now.
  const now = () => { if (timer) flush(); };
  window.addEventListener('pagehide', now);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') now(); });
}

/**
 * Take up `userId`'s kept chats (the store's account listener): read them into the store, or empty the cache
 * when it holds another account's. null: signed out, the cache is deleted. Resolves when done.
 */
export async function keepChatsOf(userId) {
  generation += 1;
  const mine = generation;
  clearTimeout(timer);
  timer = 0;
  owner = userId;
  synced = false;
  restoredSeq = null;
  listChanged = false;
  wipe = false;
  changed.clear();
  keptIds.clear();
  if (!userId) {
    const open = keeper;
    keeper = null;
    const db = open ? await open : null;
    if (db) db.close();
    await dropDatabase(DB_NAME);
    return;
  }
  const db = await database();
  if (!db || mine !== generation) return;
  const state = await db.get('meta', 'state');
  if (mine !== generation) return;
  if (!state || state.owner !== userId || !Array.isArray(state.list)) {
    if (state) await db.clear(); // another account's chats are never shown, and not kept either
    return;
  }
  const entries = await db.entries('chats');
  if (mine !== generation) return;
  const kept = [];
  for (const [chatId, record] of entries) {
    keptIds.add(chatId);
    if (record && Array.isArray(record.messages)) {
      kept.push({ chatId, messages: record.messages, hasMore: Boolean(record.has_more) });
      keepPointers(chatId, record.pointers || {});
    }
  }
  seedFromCache({
    list: state.list,
    memberLists: Object.entries(state.members || {}),
    people: Object.entries(state.people || {}),
    kept,
  });
  restoredSeq = Number.isInteger(state.seq) ? state.seq : null;
}

/** The seq the kept chats are complete up to, once (the first sync after reading them starts there). */
export function takeRestoredSeq() {
  const seq = restoredSeq;
  restoredSeq = null;
  return seq;
}

/** The store has caught up with the server: from now on what it holds is kept, with its seq. */
export function chatsSynced() {
  synced = true;
  if (listChanged || changed.size || wipe) schedule();
}

function schedule() {
  if (!owner || !synced || timer) return;
  timer = setTimeout(flush, WRITE_EVERY_MS);
}

/** A chat's record: its last messages, or null when none are loaded (the record goes). */
function recordOf(chatId) {
  const record = history(chatId);
  if (!getChat(chatId) || !record || !record.loaded) return null;
  const messages = messagesOf(chatId);
  const last = messages.slice(-LAST_MESSAGES);
  return { messages: last.map(sealedOnly), has_more: record.hasMore || messages.length > last.length, pointers: pointersOf(chatId) };
}

async function flush() {
  clearTimeout(timer);
  timer = 0;
  const mine = generation;
  if (!owner || !synced) return;
  const db = await database();
  if (!db || mine !== generation) return;
  // The state and its seq are read together, with nothing in between: the state holds every event up to it.
  const seq = seqNow();
  // What end-to-end messages said stays in memory: the cache keeps their ciphertext only.
  const list = chatList().map((chat) => (chat.last_message ? { ...chat, last_message: sealedOnly(chat.last_message) } : chat));
  const listed = new Set(list.map((chat) => chat.id));
  const ids = new Set(changed);
  if (wipe) for (const id of keptIds) ids.add(id);
  if (listChanged) for (const id of keptIds) if (!listed.has(id)) ids.add(id);
  const records = [...ids].map((id) => [id, recordOf(id)]);
  const members = {};
  for (const chat of list) if (membersOf(chat.id)) members[chat.id] = membersOf(chat.id);
  const state = {
    owner, seq, list, members, people: Object.fromEntries(profileEntries()), saved_at: Date.now(),
  };
  changed.clear();
  listChanged = false;
  wipe = false;
  for (const [id, record] of records) {
    if (record) keptIds.add(id);
    else keptIds.delete(id);
  }
  const written = await db.write((stores) => {
    stores.meta.put(state, 'state');
    for (const [id, record] of records) {
      if (record) stores.chats.put(record, id);
      else stores.chats.delete(id);
    }
  });
  if (!written && mine === generation) {
    // Not kept (quota, private mode): these go again with the next change; the app carries on without.
    for (const [id] of records) changed.add(id);
    listChanged = true;
  }
}
