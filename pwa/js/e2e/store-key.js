// What this browser keeps of its end-to-end device between visits, besides the library's own encrypted store:
// the library device id and the store's passphrase. The passphrase is 32 random bytes, kept only wrapped
// (AES-GCM) by a WebCrypto key that cannot be exported: script can use it but not read it, so a copied profile's
// files alone do not open the store (docs/e2e.md, "The plan"). One record per user.

import { openKeeper } from '../core/idb.js';
import { newDeviceId, toBase64 } from './ids.js';

const DB = 'e2e-device';
const STORE = 'devices';

async function keeper() {
  const kept = await openKeeper(DB, 1, [STORE]);
  if (!kept) throw new Error('IndexedDB is not available: end-to-end chats need it');
  return kept;
}

/** This user's device record `{deviceId, passphrase, published}`, made on first use. */
export async function deviceRecord(userId) {
  const kept = await keeper();
  try {
    let record = await kept.get(STORE, userId);
    if (!record) {
      const wrapKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const secret = crypto.getRandomValues(new Uint8Array(32));
      const wrapped = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, wrapKey, secret);
      record = { deviceId: newDeviceId(), wrapKey, iv, wrapped, published: null };
      if (!(await kept.write((s) => s[STORE].put(record, userId)))) throw new Error('could not keep the device');
    }
    const secret = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: record.iv }, record.wrapKey, record.wrapped);
    return { deviceId: record.deviceId, passphrase: toBase64(new Uint8Array(secret)), published: record.published };
  } finally {
    kept.close();
  }
}

/** Note the directory's id of this device once its keys are published (null: not, or no longer). */
export async function setPublished(userId, directoryId) {
  const kept = await keeper();
  try {
    const record = await kept.get(STORE, userId);
    if (record) await kept.write((s) => s[STORE].put({ ...record, published: directoryId }, userId));
  } finally {
    kept.close();
  }
}

/** Forget this user's device here: its record and the library's databases (sign-out, or a stale device). */
export async function forgetDevice(userId, storeName) {
  const kept = await keeper();
  try {
    await kept.write((s) => s[STORE].delete(userId));
  } finally {
    kept.close();
  }
  const names = (await indexedDB.databases?.()) ?? [];
  await Promise.all(
    names
      .map((db) => db.name)
      .filter((name) => name && name.startsWith(storeName))
      .map((name) => new Promise((resolve) => {
        const request = indexedDB.deleteDatabase(name);
        request.onsuccess = request.onerror = request.onblocked = () => resolve();
      })),
  );
}
