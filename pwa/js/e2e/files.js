// Attachments of end-to-end chats (imported when one is picked, shown or forwarded there): the file is encrypted
// in the browser with the crypto library's own attachment encryption (AES-CTR with a fresh key, SHA-256 of the
// ciphertext), the ciphertext goes up the ordinary upload route (the server stores it as an opaque "encrypted"
// blob), and its key, iv and hash travel with its name, type and size inside the message's ciphertext. Receivers
// fetch the ciphertext, check and decrypt it here, and see a blob: URL (chat/files.js keeps
// those, as for the files of plain chats).

import { attachmentBytes, uploadFile } from '../chat/files.js';
import { loadCrypto } from './library.js';

async function imageSize(file) {
  if (!file.type.startsWith('image/') || typeof createImageBitmap !== 'function') return null;
  try {
    const bitmap = await createImageBitmap(file);
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return null; // not an image the browser can show: it travels as a file
  }
}

/**
 * Encrypt `file` (a File or Blob) and upload the ciphertext into chat `chatId`. Resolves with the upload's
 * descriptor plus `sealed`: what goes inside the message (id, encryption info, name, type, size, image size).
 */
export async function uploadSealed(chatId, file, { signal, name = file.name } = {}) {
  const lib = await loadCrypto();
  const plain = new Uint8Array(await file.arrayBuffer());
  const encrypted = lib.Attachment.encrypt(plain);
  const info = encrypted.mediaEncryptionInfo; // read once: the library hands it out a single time
  const ciphertext = new Blob([encrypted.encryptedData], { type: 'application/octet-stream' });
  encrypted.free();
  const dims = await imageSize(file);
  // The server sees a blob named "encrypted": the real name and type are inside the message only.
  const descriptor = await uploadFile(chatId, new File([ciphertext], 'encrypted'), { signal });
  const sealed = {
    id: descriptor.id,
    info: JSON.parse(info),
    name: String(name || 'file'),
    mime: file.type || 'application/octet-stream',
    size: plain.byteLength,
    kind: dims ? 'image' : 'file',
    ...(dims || {}),
  };
  return { ...descriptor, name: sealed.name, sealed };
}

/** The files a decrypted content carries, checked: each with its id and encryption info, as shown by bubbles. */
export function filesOf(content) {
  const list = Array.isArray(content?.files) ? content.files : [];
  return list.filter((f) => f && typeof f.id === 'string' && f.info && typeof f.info === 'object').slice(0, 10).map((f) => ({
    id: f.id,
    info: f.info,
    name: typeof f.name === 'string' ? f.name.slice(0, 255) : '',
    mime: typeof f.mime === 'string' ? f.mime.slice(0, 127) : 'application/octet-stream',
    size: Number.isFinite(f.size) ? f.size : null,
    kind: f.kind === 'image' ? 'image' : 'file',
    thumbnail: f.kind === 'image', // the bubble shows the image itself, decrypted, as its thumbnail
    width: Number.isFinite(f.width) ? f.width : null,
    height: Number.isFinite(f.height) ? f.height : null,
    sealed: true,
  }));
}

/** The plaintext of an end-to-end attachment: fetched, its hash checked and decrypted by the library. */
export async function openedBytes(file) {
  const lib = await loadCrypto();
  const ciphertext = new Uint8Array(await attachmentBytes(file.id));
  const encrypted = new lib.EncryptedAttachment(ciphertext, JSON.stringify(file.info));
  try {
    return lib.Attachment.decrypt(encrypted);
  } finally {
    encrypted.free();
  }
}

/** A file of any message (plain or end-to-end) encrypted again into end-to-end chat `chatId` (a forward). */
export async function resealInto(chatId, file) {
  const bytes = file.sealed ? await openedBytes(file) : new Uint8Array(await attachmentBytes(file.id));
  const blob = new Blob([bytes], { type: file.mime || 'application/octet-stream' });
  return uploadSealed(chatId, blob, { name: file.name });
}
