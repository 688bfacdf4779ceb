// The chat domain's wiring, in one place: the numbered events it handles, what it does when the event store
// has caught up or starts over, its unnumbered pushes (typing, presence), and whose state it holds.
// app.js calls initChat once at start and resetChats at sign-out.

import { chatsSynced, initChatCache, keepChatsOf, takeRestoredSeq } from './cache.js';
import { applyDeleted, applyHidden, applyMessage, applyReaction } from './messages.js';
import { acknowledgeIfMine, dropOutbox, pump, useOutboxOf } from './outbox.js';
import { forgetBlocks } from './person.js';
import { followAgain, forgetPresence, startPresence } from './presence.js';
import { applyReadEvent, forgetReadPointers, forgetReceipts, markDelivered } from './receipts.js';
import { startWithE2eChats } from './sealed.js';
import {
  applyChatUpdate, applySettings, emit, forgetHistories, loadChatsOnce, myId, onAccount, refreshMembers, removeChat,
  resetStore, scheduleReload, useAccount, whoAmI,
} from './store.js';
import { addTrustPart } from './trust-part.js';
import { forgetTyping, startTyping } from './typing.js';

/** The chat events of docs/protocol.md ("Server pushes"), by type. */
const HANDLERS = {
  'message.new': (f) => {
    if (!f.message) return; // from a chat you have left since
    acknowledgeIfMine(f.message);
    applyMessage(f.message, { fresh: true });
    if (f.message.sender_id !== myId()) markDelivered(f.chat_id, f.message.id); // the sender's ✓✓
  },
  'message.edited': (f) => f.message && applyMessage(f.message, { fresh: false }),
  'message.deleted': (f) => applyDeleted(f.chat_id, f.message_id),
  'message.hidden': (f) => applyHidden(f.chat_id, f.message_id),
  reaction: (f) => applyReaction(f.chat_id, f.message_id, f.user_id, f.emoji, f.on),
  'chat.read': applyReadEvent,
  'chat.delivered': applyReadEvent,
  'chat.settings': (f) => applySettings(f.chat_id, f),
  'chat.created': () => scheduleReload(),
  'chat.updated': (f) => applyChatUpdate(f.chat_id, f),
  'chat.removed': (f) => removeChat(f.chat_id),
  'member.added': (f) => refreshMembers(f.chat_id),
  'member.removed': (f) => refreshMembers(f.chat_id),
  'member.left': (f) => refreshMembers(f.chat_id),
  'member.role': (f) => refreshMembers(f.chat_id),
};

/** Register the chat domain with the event store (core/events.js) and the socket. Call once. */
export function initChat(events) {
  for (const [type, handler] of Object.entries(HANDLERS)) events.handle(type, handler);

  // The state beside the store follows whose chats they are: another user's (or nobody's) starts empty.
  onAccount((userId) => {
    forgetTyping();
    forgetReceipts();
    forgetPresence();
    forgetBlocks();
    useOutboxOf(userId);
    return keepChatsOf(userId); // the chats this device kept for this user, read into the store (or emptied)
  });
  events.onAccount(async (userId) => {
    useAccount(userId);
    await whoAmI(); // the kept chats are in the store first
    const seq = takeRestoredSeq();
    if (seq !== null) events.rewind(seq); // they hold the events up to their seq: the sync goes on from there
  });
  initChatCache({ seq: () => events.seq() });

  events.onReset(() => {
    forgetHistories();
    forgetReadPointers();
    emit({ kind: 'resync' });
    scheduleReload();
  });

  // Caught up: keep the chats from now on, resend what waits, follow presence again, and load the list behind
  // the unread counts (again, when the one shown is the kept one).
  events.onSynced(() => {
    chatsSynced();
    pump();
    followAgain();
    loadChatsOnce();
  });

  startTyping();
  startPresence();
  addTrustPart(); // end-to-end chats: verified badge and key-change lines (the work loads with such a chat)
  startWithE2eChats();
}

/** Sign-out: drop everything in memory and this device's unsent messages. */
export function resetChats() {
  dropOutbox();
  resetStore();
}
