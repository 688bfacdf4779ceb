// Sending messages: each waits in the outbox (kept per user across reloads) with its client_id until the
// server acknowledges it. After every (re)connect and sync the outbox goes out again with the original
// client_ids; the server answers a repeat with `duplicate: true` and never stores a message twice.

import { describeError } from '../core/dom.js';
import { command, isReady } from '../core/socket.js';
import { loadJson, saveJson } from '../core/storage.js';
import { applyMessage } from './messages.js';
import { e2eProblem, sealedContent, sealedEcho, sealFor } from './sealed.js';
import { emit, myId } from './store.js';

const outboxKey = (user) => `realtime.chat.outbox.${user}`;

let outbox = [];
let pumping = false;
let pausedUntil = 0; // the outbox waits until then (rate limit, or no answer yet)
let pumpTimer = 0;

function saveOutbox() {
  const me = myId();
  if (!me) return;
  const kept = outbox.map(({ chat_id, client_id, text, reply_to, attachments, files, created_at, state, e2e, quote, forward }) => ({
    chat_id, client_id, text, reply_to, attachments, files, created_at, state, e2e, quote, forward,
  }));
  saveJson(outboxKey(me), kept.length ? kept : null);
}

/** Take up `userId`'s stored outbox (null: none, after a sign-out). */
export function useOutboxOf(userId) {
  outbox = [];
  clearTimeout(pumpTimer);
  pausedUntil = 0;
  if (!userId) return;
  const stored = loadJson(outboxKey(userId), []);
  outbox = Array.isArray(stored) ? stored.filter((e) => e && typeof e.client_id === 'string') : [];
}

/** Sign-out: this device's unsent messages are dropped, in storage too. */
export function dropOutbox() {
  const me = myId();
  if (me) saveJson(outboxKey(me), null);
}

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
 * `files`: the uploaded attachments' descriptors (id, kind, name…). In an end-to-end chat (`e2e`) the text and
 * `quote` (`{sender_id, text}` of the message answered) are encrypted when the message goes, not before (below).
 */
export function sendMessage(chatId, { text = '', replyTo = null, files = [], e2e = false, quote = null, forward = null }) {
  const entry = {
    e2e,
    quote: e2e ? quote : null,
    forward: e2e ? forward : null, // `{sender_id, name}`: a forward into an end-to-end chat, inside the ciphertext
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
 * written even when one has to wait (rate limit) or go again (reconnect). Runs after every sync, too.
 */
export async function pump() {
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
      if (!entry || !isReady()) return; // the next connection's sync starts it again
      if (await transmit(entry) === 'offline') return;
    }
  } finally {
    pumping = false;
  }
}

/**
 * One message.send: 'sent' | 'failed' (refused: the user decides) | 'later' | 'offline'.
 * An end-to-end message is encrypted here, as it goes: its chat's key is then shared with the members and devices
 * there are at that moment (one who left while it waited gets nothing; a new device gets the key), and sharing
 * needs the network anyway. A resend after no answer encrypts again; the server keeps the first (same client_id).
 */
async function transmit(entry) {
  const fields = { chat_id: entry.chat_id, client_id: entry.client_id };
  if (entry.reply_to) fields.reply_to = entry.reply_to;
  if (entry.attachments && entry.attachments.length) fields.attachments = entry.attachments;
  try {
    if (entry.e2e) fields.ciphertext = await sealFor(entry.chat_id, sealedContent(entry.text, entry.quote, entry.files, entry.forward));
    else fields.text = entry.text;
    acknowledge(await command('message.send', fields), entry);
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
    entry.error = entry.e2e ? e2eProblem(err) : describeError(err);
    saveOutbox();
    emit({ kind: 'outbox', chatId: entry.chat_id });
    return 'failed';
  }
}

function acknowledge(message, entry) {
  const { duplicate, ...stored } = message;
  if (entry.e2e && !duplicate) Object.assign(stored, sealedEcho(entry)); // what was sealed
  removeSent(stored);
  applyMessage(stored, { fresh: !duplicate });
}

/** A `message.new` event of the user's: the send it answers (from any device of theirs) is done. */
export function acknowledgeIfMine(message) {
  if (message.sender_id !== myId() || !message.client_id) return;
  removeSent(message);
}

function removeSent(message) {
  const before = outbox.length;
  outbox = outbox.filter((entry) => entry.client_id !== message.client_id);
  if (outbox.length !== before) {
    saveOutbox();
    emit({ kind: 'outbox', chatId: message.chat_id });
  }
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
