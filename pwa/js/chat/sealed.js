// End-to-end chats as the chat screens see them: the bridge to the end-to-end module (pwa/js/e2e/chats.js, with
// the crypto library behind it), imported only when an end-to-end chat is opened, made or written in, so the
// shell stays small and people who never use one never fetch 2 MB of WebAssembly.
//
// That module decrypts a message in place: `text` (and `quote`, the replied-to text the sender put inside the
// ciphertext) with `sealed: 'open'`, or `sealed` saying why not ('waiting' for its key, 'before' this device,
// 'broken'). The plaintext lives in memory only: the device's chat cache keeps the ciphertext (`sealedOnly`).

import { ApiError } from '../core/api.js';
import { describeError } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { chatList, emit, nameOf, subscribe } from './store.js';

let engine = null; // Promise of the started module
let elsewhere = false; // another tab of this browser has the device: messages here say so
let following = false;
const watchers = new Map(); // chat id -> what its open conversation does with members who got no key

/** The end-to-end module, started (this user's device opened and published, the chats' messages decrypted). */
export function startE2e() {
  if (!engine) {
    engine = import('../e2e/chats.js').then(async (module) => {
      await module.start();
      return module;
    });
    engine.then(() => { elsewhere = false; }, (err) => {
      engine = null; // offline, or another tab has the device: the next call tries again
      if (err?.code === 'e2e_busy' && !elsewhere) {
        elsewhere = true;
        for (const chat of chatList()) if (chat.e2e) emit({ kind: 'messages', chatId: chat.id });
      }
    });
  }
  return engine;
}

/** Why a message of an end-to-end chat shows no text (a catalogue key), or null when it does (or is not one). */
export function sealedNotice(message) {
  if (!message || typeof message.ciphertext !== 'string' || message.deleted || message.sealed === 'open') return null;
  if (message.sealed === 'waiting') return 'chat.e2e.waiting';
  if (message.sealed === 'before') return 'chat.e2e.before';
  if (message.sealed === 'broken') return 'chat.e2e.broken';
  return elsewhere ? 'chat.e2e.elsewhere' : 'chat.e2e.locked'; // not tried here (yet)
}

/** A message as the device's cache may keep it: without what was decrypted here. */
export function sealedOnly(message) {
  if (!message || typeof message.ciphertext !== 'string') return message;
  const { text, quote, sealed, files, forward, reaction, reactions, ...rest } = message; // reactions: decrypted too
  return rest;
}

/** The content a message of an end-to-end chat carries: its text, what it answers (quoted), its files (each with
 * its key: e2e/files.js) and, for a forward, who wrote it first (`{sender_id, name}`). */
export function sealedContent(text, quote, files = [], forward = null) {
  const content = { msgtype: 'm.text', body: text };
  if (quote) content.quote = { sender_id: quote.sender_id, text: quote.text };
  const sealedFiles = (files || []).map(sealedFileOf).filter(Boolean);
  if (sealedFiles.length) content.files = sealedFiles;
  if (forward) content.forward = { sender_id: forward.sender_id, name: forward.name };
  return content;
}

/** What a file carries inside the ciphertext: from an upload's descriptor (`sealed`: an object) or a decrypted
 * message's file (`sealed: true`, kept when the message is edited). */
function sealedFileOf(file) {
  const from = file?.sealed === true ? file : file?.sealed;
  if (!from || typeof from !== 'object') return null;
  const { id, info, name, mime, size, kind, width, height } = from;
  return { id, info, name, mime, size, kind, width, height };
}

/** What the sender's own copy of a sent end-to-end message shows (the server's copy holds the ciphertext only). */
export function sealedEcho(entry) {
  const files = (entry.files || []).map((f) => f.sealed).filter(Boolean)
    .map((f) => ({ ...f, sealed: true, thumbnail: f.kind === 'image' }));
  return { text: entry.text, quote: entry.quote, files, forward: entry.forward || undefined, sealed: 'open' };
}

/** `content` encrypted for a chat's members' devices (sharing the chat's key first): the message's ciphertext. */
export async function sealFor(chatId, content) {
  const { ciphertext, missing } = await (await startE2e()).encrypt(chatId, content);
  if (missing.length) watchers.get(chatId)?.(missing);
  return ciphertext;
}

/**
 * Start the module as soon as the chat list holds an end-to-end chat, not only when one is opened: a member's
 * device must exist (its keys published) when the others write, or it can never read what they wrote then.
 * Tried once per page (another tab may hold the device). chat/init.js calls it once.
 */
export function startWithE2eChats() {
  if (following) return;
  following = true;
  let tried = false;
  subscribe((change) => {
    if (change.kind === 'reset') tried = false;
    if (change.kind !== 'chats' || tried || !chatList().some((chat) => chat.e2e)) return;
    tried = true;
    startE2e().catch(() => {}); // the conversation says why, when one is opened
  });
}

/** The sentence for a failure of the end-to-end module (opening the device, sharing keys, encrypting). */
export function e2eProblem(err) {
  if (err?.code === 'e2e_busy') return t('chat.e2e.busy');
  if (err instanceof ApiError) return describeError(err);
  console.warn('end-to-end:', err);
  return t('chat.e2e.failed');
}

/** An end-to-end chat opened: start the module; the composer is closed while it cannot (another tab has it). Its
 * status line says when a message went to members who have no device that could be given the key. */
export function openSealedChat(chatId, composer, say, signal) {
  const watcher = (missing) => say(t('chat.e2e.no_device', { names: missing.map(nameOf).join(', ') }));
  watchers.set(chatId, watcher);
  signal.addEventListener('abort', () => {
    if (watchers.get(chatId) === watcher) watchers.delete(chatId);
  }, { once: true });
  startE2e().catch((err) => {
    const problem = e2eProblem(err);
    if (err?.code === 'e2e_busy' || !(err instanceof ApiError && err.status === 0)) composer.disable(problem);
    say(problem);
  });
}
