// The loaded histories of the user's chats: pages from the server (the latest first, older ones on request) and
// what this device kept (chat/cache.js), by chat and message id. Part of chat/store.js's interface, which
// re-exports these functions; events and sends change the records in place (chat/messages.js).

import { api } from '../core/api.js';
import { emit, getChat } from './store.js';

const PAGE_SIZE = 50;
const histories = new Map(); // chat id -> {byId: Map, loaded, hasMore, loading}

/**
 * GET `path`; while the device is offline, wait for it to be back and ask again, until `signal` aborts (a screen
 * shows what it has meanwhile, under the app's offline banner). Other failures throw as they are.
 */
export async function getWhenOnline(path, signal) {
  for (;;) {
    try {
      return await api.get(path, { signal });
    } catch (err) {
      if (err?.status !== 0 || navigator.onLine || !signal) throw err;
    }
    await new Promise((resolve, reject) => {
      const back = () => { signal.removeEventListener('abort', stop); resolve(); };
      const stop = () => { window.removeEventListener('online', back); reject(new DOMException('Aborted', 'AbortError')); };
      window.addEventListener('online', back, { once: true });
      signal.addEventListener('abort', stop, { once: true });
      if (signal.aborted) stop();
    });
  }
}

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

/** Drop every loaded history (the server said to start over): screens load theirs again. */
export function forgetHistories() {
  histories.clear();
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
      const page = await getWhenOnline(`/api/chats/${encodeURIComponent(chatId)}/messages${query}`, signal);
      for (const message of page.messages || []) {
        // A message already here came from an event, which is at least as new as this page.
        if (!record.byId.has(message.id)) record.byId.set(message.id, message);
      }
      record.hasMore = Boolean(page.has_more);
      record.loaded = true;
      const chat = getChat(chatId);
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

/** Messages this device kept for a chat: shown as loaded (the sync from their seq brings what followed). */
export function keepHistory(chatId, messages, hasMore) {
  histories.set(chatId, { byId: new Map(messages.map((m) => [m.id, m])), loaded: true, hasMore, loading: null });
}

/** The chat is gone: its history too. */
export function dropHistory(chatId) {
  histories.delete(chatId);
}
