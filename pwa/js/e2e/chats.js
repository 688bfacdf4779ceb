// End-to-end chats on this device (imported by chat/sealed.js when one is first opened, made or written in):
// encrypting a chat's messages with its group (Megolm) key after sharing that key with every device of every
// current member, and decrypting what the chat store holds — pushes, history pages and the cache kept on the
// device — in place, as chat/sealed.js describes. A message whose key has not come yet waits, and is tried
// again whenever a to-device message (a room key) is decrypted here.

import {
  chatList, emit, getChat, history, loadChat, membersOf, messagesOf, myId, subscribe,
} from '../chat/store.js';
import { openDevice } from './device.js';
import { filesOf } from './files.js';
import { foldReactions, reactionOf } from './reactions.js';

let device = null;
let started = null;
let following = false;
let running = null; // the decrypting pass under way
let again = false; // another pass was asked for while one ran
let retryWaiting = false; // the next pass tries the messages that were waiting for their keys
const asked = new Set(); // chat ids whose messages changed since the last pass ('*': every chat)

/** Open this user's device (once per page) and decrypt what the store holds, now and as it changes. */
export function start() {
  if (!started) {
    started = (async () => {
      device = await openDevice();
      device.onToDevice(() => {
        retryWaiting = true; // a room key, perhaps: messages waiting for it can be read now
        decryptSoon('*');
      });
      if (!following) {
        following = true;
        subscribe((change) => {
          if (change.kind === 'reset') started = null; // signed out: the device is closed and forgotten
          else if (!started) return;
          else if (change.kind === 'messages' && change.chatId) decryptSoon(change.chatId);
          else if (change.kind === 'chats' || change.kind === 'resync') decryptSoon('*');
        });
      }
      decryptSoon('*');
    })();
    started.catch(() => {
      started = null;
    });
  }
  return started;
}

/** The ids of a chat's members now: asked of the server before each send, since a member.removed event may still
 * be on its way (or its refresh under way), and a member who has left must not get the next key. */
async function memberIds(chatId) {
  await loadChat(chatId);
  const ids = (membersOf(chatId) || []).map((m) => m.user_id);
  return ids.includes(myId()) ? ids : [...ids, myId()];
}

/**
 * The ciphertext of `content` in a chat. The chat's key goes first to the devices of its members as they are
 * now: the library sends it to devices that lack it and starts a new key when a member or a device has gone.
 * Answers `{ciphertext, missing}`: `missing`, the members none of whose devices could be given the key.
 */
export async function encrypt(chatId, content) {
  await start();
  const members = await memberIds(chatId);
  await device.shareChatKey(chatId, members);
  const ciphertext = await device.encryptMessage(chatId, content);
  // Members with no device in the key directory (never opened an end-to-end chat) got no key: the sender hears.
  const missing = [];
  for (const id of members) if (id !== myId() && !(await device.devicesOf(id)).length) missing.push(id);
  return { ciphertext, missing };
}

// -- decrypting ---------------------------------------------------------------------------------------------

function decryptSoon(chatId) {
  asked.add(chatId);
  if (running) {
    again = true;
    return;
  }
  running = (async () => {
    try {
      do {
        again = false;
        await decryptPass();
      } while (again || asked.size);
    } catch (err) {
      console.warn('end-to-end: decrypting', err);
    } finally {
      running = null;
    }
  })();
}

function wanted(message, retry) {
  if (!message || typeof message.ciphertext !== 'string' || message.deleted || message.kind === 'call') return false;
  return message.sealed === undefined || (retry && message.sealed === 'waiting');
}

async function decryptPass() {
  const all = asked.has('*');
  const chats = all ? chatList().map((chat) => chat.id) : [...asked];
  const retry = retryWaiting;
  retryWaiting = false;
  asked.clear();
  const changedChats = new Set();
  let listChanged = false;
  for (const chatId of chats) {
    const chat = getChat(chatId);
    if (!chat?.e2e) continue;
    for (const message of messagesOf(chatId)) {
      if (wanted(message, retry) && await decryptInPlace(chatId, message)) changedChats.add(chatId);
    }
    if (foldReactions(chatId)) changedChats.add(chatId); // reactions are messages of their own here
    const last = chat.last_message;
    if (wanted(last, retry)) {
      // The list's copy of the last message: the history's when it holds it, decrypted otherwise.
      const known = history(chatId)?.byId.get(last.id);
      if (known && known.ciphertext === last.ciphertext && known.sealed !== undefined) {
        Object.assign(last, { text: known.text, quote: known.quote, files: known.files, sealed: known.sealed });
        listChanged = true;
      } else if (await decryptInPlace(chatId, last)) {
        listChanged = true;
      }
    }
  }
  // The changes come back to this module too: what they ask for is already done, so the next pass finds nothing.
  for (const chatId of changedChats) emit({ kind: 'messages', chatId });
  if (listChanged || changedChats.size) emit({ kind: 'chats' });
}

/** Decrypt one message into itself; true when what it shows changed. */
async function decryptInPlace(chatId, message) {
  const before = message.sealed;
  const ciphertext = message.ciphertext;
  try {
    const content = await device.decryptMessage(chatId, message);
    if (message.ciphertext !== ciphertext) return false; // edited meanwhile: the edit is decrypted on its own
    if (message.silent) return openReaction(message, content);
    message.text = typeof content?.body === 'string' ? content.body : '';
    const quote = content?.quote;
    message.quote = quote && typeof quote.text === 'string' ? { sender_id: String(quote.sender_id || ''), text: quote.text } : null;
    message.files = filesOf(content);
    const forward = content?.forward;
    message.forward = forward && typeof forward.name === 'string' ? { sender_id: String(forward.sender_id || ''), name: forward.name } : undefined;
    message.sealed = 'open';
    return true;
  } catch (err) {
    message.sealed = ['waiting', 'before'].includes(err?.code) ? err.code : 'broken';
    return message.sealed !== before;
  }
}

/** A silent message decrypted: a reaction (reactions.js folds it into its target) or, if not one, nothing shown. */
function openReaction(message, content) {
  message.reaction = reactionOf(content);
  message.sealed = message.reaction ? 'open' : 'broken';
  return true;
}
