// Who is typing in which chat (the `typing` pushes, not numbered), and telling the others the user is.

import { command, on } from '../core/socket.js';
import { emit, myId } from './store.js';

const TYPING_EVERY_MS = 3000;

const typing = new Map(); // chat id -> Map(user id -> timer)
const typingSentAt = new Map(); // chat id -> when this device last said the user is typing

/** Follow the `typing` pushes; chat/init.js calls it once. Returns the function that stops following. */
export function startTyping() {
  return on('typing', (frame) => {
    const me = myId();
    if (!me || frame.user_id === me || typeof frame.chat_id !== 'string') return;
    if (!typing.has(frame.chat_id)) typing.set(frame.chat_id, new Map());
    const byUser = typing.get(frame.chat_id);
    clearTimeout(byUser.get(frame.user_id));
    const seconds = Math.min(Math.max(Number(frame.expires_in) || 6, 1), 30);
    byUser.set(frame.user_id, setTimeout(() => stopTyping(frame.chat_id, frame.user_id), seconds * 1000));
    emit({ kind: 'typing', chatId: frame.chat_id });
  });
}

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

/** `userId` stopped typing in `chatId` (their message arrived, or the time ran out). */
export function stopTyping(chatId, userId) {
  const byUser = typing.get(chatId);
  if (!byUser || !byUser.has(userId)) return;
  clearTimeout(byUser.get(userId));
  byUser.delete(userId);
  emit({ kind: 'typing', chatId });
}

/** Another user's chats (or none): nobody is typing. */
export function forgetTyping() {
  for (const byUser of typing.values()) for (const timer of byUser.values()) clearTimeout(timer);
  typing.clear();
  typingSentAt.clear();
}
