// Forwarding into an end-to-end chat (imported by the forward dialog when it is the target, or the message comes
// from one): the server cannot forward what it cannot read, so the client sends a new message there, encrypted
// for that chat's members, with the text, the files (decrypted and encrypted again under new keys, uploaded into
// the target) and, inside the ciphertext, who wrote it first.

import { getUser } from '../core/api.js';
import { sendMessage } from '../chat/outbox.js';
import { myId, nameOf } from '../chat/store.js';
import { resealInto } from './files.js';

/** Who wrote `message` first, as the forward's readers see it (they may not know that person). */
function firstAuthor(message) {
  if (message.forward?.name) return message.forward;
  const mine = message.sender_id === myId();
  const user = mine ? getUser() : null;
  return { sender_id: message.sender_id, name: (user && (user.display_name || user.username)) || nameOf(message.sender_id) };
}

/** Queue `message` (decrypted, or of a plain chat) as a new end-to-end message of chat `chatId`. */
export async function forwardSealed(chatId, message) {
  const sealedSource = typeof message.ciphertext === 'string';
  const source = (sealedSource ? message.files : message.attachments) || [];
  const files = [];
  for (const file of source) files.push(await resealInto(chatId, file));
  return sendMessage(chatId, { text: message.text || '', files, e2e: true, forward: firstAuthor(message) });
}
