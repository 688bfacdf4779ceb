// Reactions in end-to-end chats. The server's `message.react` would keep the emoji in clear, so here a reaction is
// a message of its own, encrypted like any other and sent `silent` (no unread, no push, not the chat list's last
// message): its content says "reaction <emoji> to message <id>, on or off", the shape of Matrix's m.annotation.
// The conversation hides these messages; folded in the order they were sent, they become the `reactions` of
// their targets (emoji -> user ids), which the bubbles show as they do in plain chats.

import { command } from '../core/socket.js';
import { applyMessage } from '../chat/messages.js';
import { sealFor } from '../chat/sealed.js';
import { history, messagesOf } from '../chat/store.js';

const MAX_EMOJI = 16; // characters, as the server allows for a plain chat's reaction

/** The content of a reaction, as it travels inside the ciphertext. */
export function reactionContent(messageId, emoji, on) {
  return { msgtype: 'm.reaction', 'm.relates_to': { rel_type: 'm.annotation', message_id: messageId, key: emoji }, on };
}

/** What a decrypted silent message says (`{message_id, emoji, on}`), or null when it is not a well-formed reaction. */
export function reactionOf(content) {
  const relation = content?.['m.relates_to'];
  if (content?.msgtype !== 'm.reaction' || relation?.rel_type !== 'm.annotation') return null;
  const { message_id: messageId, key: emoji } = relation;
  if (!Number.isInteger(messageId) || messageId < 1) return null;
  if (typeof emoji !== 'string' || !emoji || emoji.length > MAX_EMOJI) return null;
  return { message_id: messageId, emoji, on: content.on !== false };
}

/** Add (`on`) or take back a reaction to a message of an end-to-end chat. */
export async function sendReaction(chatId, messageId, emoji, on) {
  const ciphertext = await sealFor(chatId, reactionContent(messageId, emoji, on));
  const message = await command('message.send', {
    chat_id: chatId, client_id: crypto.randomUUID(), ciphertext, silent: true,
  });
  applyMessage({ ...message, reaction: { message_id: messageId, emoji, on }, sealed: 'open' }, { fresh: false });
  return message;
}

/** Set the `reactions` of a chat's loaded messages from its decrypted reactions; true when any changed. Each
 * sender's last word on an emoji counts: a reaction taken back is gone. */
export function foldReactions(chatId) {
  if (!history(chatId)) return false;
  const messages = messagesOf(chatId); // oldest first
  const state = new Map(); // target id -> emoji -> Set of user ids
  for (const m of messages) {
    if (!m.silent || m.deleted || !m.reaction || !m.sender_id) continue;
    const { message_id: target, emoji, on } = m.reaction;
    if (!state.has(target)) state.set(target, new Map());
    const byEmoji = state.get(target);
    if (!byEmoji.has(emoji)) byEmoji.set(emoji, new Set());
    if (on) byEmoji.get(emoji).add(m.sender_id);
    else byEmoji.get(emoji).delete(m.sender_id);
  }
  let changed = false;
  for (const m of messages) {
    if (m.silent || m.deleted) continue;
    const reactions = {};
    for (const [emoji, users] of state.get(m.id) || []) if (users.size) reactions[emoji] = [...users];
    if (JSON.stringify(reactions) === JSON.stringify(m.reactions || {})) continue;
    m.reactions = reactions; // in place, as the decrypted text is: the conversation redraws what changed
    changed = true;
  }
  return changed;
}
