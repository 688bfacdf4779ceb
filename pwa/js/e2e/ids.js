// How our ids look to the crypto library, which speaks Matrix's shapes (docs/e2e.md): a user is
// `@<user_id>:<SERVER_NAME>`, a chat is the room `!<chat_id>:<SERVER_NAME>`, and byte strings travel as base64.

// A fixed name rather than this site's host: device keys sign the user id, so keys made here stay valid if the site
// moves to another address. It names no real server (.invalid never resolves).
export const SERVER_NAME = 'e2e.invalid';

export const matrixUser = (userId) => `@${userId}:${SERVER_NAME}`;
export const matrixRoom = (chatId) => `!${chatId}:${SERVER_NAME}`;

/** Our user id in a Matrix user id of ours; null for one that is not. */
export function ourUser(matrixId) {
  const suffix = `:${SERVER_NAME}`;
  if (typeof matrixId !== 'string' || !matrixId.startsWith('@') || !matrixId.endsWith(suffix)) return null;
  return matrixId.slice(1, -suffix.length);
}

/** Standard base64 with padding. */
export function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** Bytes of base64, standard or url-safe, padding optional. */
export function fromBase64(text) {
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(std.padEnd(Math.ceil(std.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A JSON value as the directory's opaque key bytes (base64), and back. */
export const packJson = (value) => toBase64(encoder.encode(JSON.stringify(value)));
export const unpackJson = (text) => JSON.parse(decoder.decode(fromBase64(text)));

/** A Matrix key id such as `signed_curve25519:AAAAAAAAAAE` carries a counter: the directory's integer key id. */
export function keyIdNumber(keyId) {
  let n = 0;
  for (const byte of fromBase64(keyId.split(':')[1] ?? '')) n = n * 256 + byte;
  if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) throw new Error(`key id out of range: ${keyId}`);
  return n;
}

/** A new device id for the library: ten capital letters, as Matrix clients make them. */
export function newDeviceId() {
  const letters = crypto.getRandomValues(new Uint8Array(10));
  return String.fromCharCode(...letters.map((b) => 65 + (b % 26)));
}
