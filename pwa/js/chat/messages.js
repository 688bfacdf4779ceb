// Messages into the chat store: a new or edited message, a deletion, a reaction — from an event or from the
// answer to one of the user's own commands (edit, delete, react), applied idempotently by (chat, message id).

import { command } from '../core/socket.js';
import { sealedContent, sealFor } from './sealed.js';
import { emit, getChat, history, messagesOf, myId, recountUnread, scheduleReload } from './store.js';
import { stopTyping } from './typing.js';

/** A message, new (`fresh`: counts as unread, and an unknown chat reloads the list) or changed. */
export function applyMessage(message, { fresh }) {
  if (!message || typeof message.chat_id !== 'string' || typeof message.id !== 'number') return;
  const me = myId();
  const chatId = message.chat_id;
  const record = history(chatId);
  if (record && !beforeLoaded(record, message.id)) {
    record.byId.set(message.id, message);
    emit({ kind: 'messages', chatId });
  }
  if (message.silent) return; // an end-to-end reaction: not news (no unread, not the list's last message)
  if (message.sender_id && message.sender_id !== me) stopTyping(chatId, message.sender_id);
  const chat = getChat(chatId);
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

/** An edit of a message older than the loaded pages: kept out, or "earlier messages" would skip a gap. */
function beforeLoaded(record, messageId) {
  if (!record.loaded || !record.hasMore || !record.byId.size || record.byId.has(messageId)) return false;
  return messageId < Math.min(...record.byId.keys());
}

/** Deleted for everyone: the message stays as a "deleted" placeholder, without its content. */
export function applyDeleted(chatId, messageId) {
  const record = history(chatId);
  const known = record?.byId.get(messageId);
  if (known) {
    const { attachments, reactions, ...rest } = known;
    record.byId.set(messageId, { ...rest, deleted: true, text: null, ciphertext: undefined });
    emit({ kind: 'messages', chatId });
  }
  const chat = getChat(chatId);
  if (chat && chat.last_message && chat.last_message.id === messageId) {
    chat.last_message = { ...chat.last_message, deleted: true, text: null };
    emit({ kind: 'chats' });
  }
  if (chat) {
    recountUnread(chat);
    emit({ kind: 'chats' });
  }
}

/** Deleted for this user only: it goes from the history. */
export function applyHidden(chatId, messageId) {
  const record = history(chatId);
  if (record && record.byId.delete(messageId)) emit({ kind: 'messages', chatId });
  const chat = getChat(chatId);
  if (chat && chat.last_message && chat.last_message.id === messageId) {
    const rest = messagesOf(chatId);
    chat.last_message = rest.length ? rest[rest.length - 1] : null;
    emit({ kind: 'chats' });
  }
}

export function applyReaction(chatId, messageId, userId, emoji, onOff) {
  const record = history(chatId);
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

// -- the user's own actions (they need the connection; the events bring the result to every device) --

/** Edit a message; in an end-to-end chat (`sealed`: `{quote, files}` of the message) with a new ciphertext. */
export async function editMessage(chatId, messageId, text, sealed = null) {
  const fields = { chat_id: chatId, message_id: messageId };
  if (sealed) fields.ciphertext = await sealFor(chatId, sealedContent(text, sealed.quote, sealed.files));
  else fields.text = text;
  const message = await command('message.edit', fields);
  if (sealed) Object.assign(message, { text, quote: sealed.quote ?? null, files: sealed.files || [], sealed: 'open' });
  applyMessage(message, { fresh: false });
  return message;
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
  if (getChat(chatId)?.e2e) { // the emoji goes inside the ciphertext, as a message of its own
    return import('../e2e/reactions.js').then((m) => m.sendReaction(chatId, messageId, emoji, onOff));
  }
  return command('message.react', { chat_id: chatId, message_id: messageId, emoji, on: onOff }).then((result) => {
    applyReaction(chatId, messageId, myId(), emoji, onOff);
    return result;
  });
}
