// Search in the messages this device holds. Plain chats' texts are only ever searched here: the server keeps
// bodies encrypted at rest (end-to-end chats it cannot read at all), so it offers no search.

import { startE2e } from './sealed.js';
import { chatList, messagesOf } from './store.js';

/** Up to `limit` messages whose text holds `query` (case-insensitive), newest first, with their chats. */
export function searchMessages(query, limit = 50) {
  const needle = query.trim().toLocaleLowerCase();
  if (!needle) return [];
  const hits = [];
  // End-to-end messages are searched once decrypted on this device: start that (the list follows the store).
  if (chatList().some((chat) => chat.e2e)) startE2e().catch(() => {});
  for (const chat of chatList()) {
    for (const message of messagesOf(chat.id)) {
      if (message.deleted || typeof message.text !== 'string') continue;
      if (message.text.toLocaleLowerCase().includes(needle)) hits.push({ chat, message });
    }
  }
  hits.sort((a, b) => (b.message.created_at || 0) - (a.message.created_at || 0));
  return hits.slice(0, limit);
}
