// Receipts: how far the other members have received and read each chat, marking a chat read as the user reads
// it, and telling the server a message reached this device (the sender's ✓✓ delivered).

import { api } from '../core/api.js';
import { command } from '../core/socket.js';
import { applySettings, emit, getChat, myId } from './store.js';

const READ_DELAY_MS = 300;

const readPointers = new Map(); // chat id -> Map(user id -> read message id) of the other members
const deliveredPointers = new Map(); // chat id -> Map(user id -> delivered message id) of the other members
const readQueue = new Map(); // chat id -> {id, timer}
const deliveredQueue = new Map(); // chat id -> {id, timer}

/** The highest message id `userId` has read in `chatId`, as far as this device knows. */
export function readPointer(chatId, userId) {
  return readPointers.get(chatId)?.get(userId) || 0;
}

/** The highest message id that reached a device of `userId` in `chatId` (reading implies receiving). */
export function deliveredPointer(chatId, userId) {
  return Math.max(deliveredPointers.get(chatId)?.get(userId) || 0, readPointer(chatId, userId));
}

function raisePointer(chatId, userId, messageId, pointers = readPointers) {
  if (!pointers.has(chatId)) pointers.set(chatId, new Map());
  const map = pointers.get(chatId);
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
  for (const userId of answer.delivered_to || []) {
    changed = raisePointer(chatId, userId, messageId, deliveredPointers) || changed;
  }
  if (changed) emit({ kind: 'reads', chatId });
  return answer;
}

/** A message of someone else's reached this device: tell the server (debounced, the highest id of a burst). */
export function markDelivered(chatId, messageId) {
  const chat = getChat(chatId);
  if (chat && (chat.me?.delivered_id || 0) >= messageId) return;
  const pending = deliveredQueue.get(chatId);
  if (pending && pending.id >= messageId) return;
  if (pending) clearTimeout(pending.timer);
  const timer = setTimeout(() => {
    deliveredQueue.delete(chatId);
    command('chat.delivered', { chat_id: chatId, message_id: messageId }).then((result) => {
      applySettings(chatId, { delivered_id: result.delivered_id });
    }, () => {
      // Not connected: the sync after the reconnect brings the message again, and this runs again.
    });
  }, READ_DELAY_MS);
  deliveredQueue.set(chatId, { id: messageId, timer });
}

/** Mark the chat read up to `messageId` (debounced: the highest id of a burst is sent once). */
export function markRead(chatId, messageId) {
  const chat = getChat(chatId);
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

/** A `chat.read` event: another member read further, or the user did on another device. */
export function applyReadEvent(frame) {
  if (frame.user_id === myId()) {
    const chat = getChat(frame.chat_id);
    if (chat && frame.type === 'chat.read') applySettings(frame.chat_id, { read_id: Math.max(chat.me?.read_id || 0, frame.message_id) });
    return;
  }
  const pointers = frame.type === 'chat.read' ? readPointers : deliveredPointers;
  if (raisePointer(frame.chat_id, frame.user_id, frame.message_id, pointers)) {
    emit({ kind: 'reads', chatId: frame.chat_id });
  }
}

/** The server said to start over: the pointers are asked for again. */
export function forgetReadPointers() {
  readPointers.clear();
  deliveredPointers.clear();
}

/** Another user's chats (or none): no pointers, nothing waiting to be marked read. */
export function forgetReceipts() {
  for (const pending of [...readQueue.values(), ...deliveredQueue.values()]) clearTimeout(pending.timer);
  readQueue.clear();
  deliveredQueue.clear();
  readPointers.clear();
  deliveredPointers.clear();
}

/** A chat's pointers of the other members, to keep on this device: {read: {user id: message id}, delivered}. */
export function pointersOf(chatId) {
  return {
    read: Object.fromEntries(readPointers.get(chatId) || []),
    delivered: Object.fromEntries(deliveredPointers.get(chatId) || []),
  };
}

/** Pointers this device kept (chat/cache.js): shown until the server's catch up; they never move back. */
export function keepPointers(chatId, { read = {}, delivered = {} } = {}) {
  for (const [userId, id] of Object.entries(read)) if (Number.isInteger(id)) raisePointer(chatId, userId, id);
  for (const [userId, id] of Object.entries(delivered)) {
    if (Number.isInteger(id)) raisePointer(chatId, userId, id, deliveredPointers);
  }
}
