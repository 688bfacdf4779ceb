// The glue between the crypto library's Matrix-shaped requests (keys upload, query and claim, to-device) and
// our key directory (/api/keys/*) and to-device inbox (/api/todevice), as docs/e2e.md maps them:
//
//   identity_key            the device's signed Matrix device keys, as JSON
//   signed_prekey           the fallback key: key_id its counter, public_key `{id, key, fallback}` as JSON,
//                           signature its Ed25519 signature
//   one_time_prekeys[]      key_id the counter, public_key the signed one-time key `{id, key, signatures}` as JSON
//
// The directory names devices by its own ids; the library by the ids inside their device keys. Each device is
// filed under the user it was fetched for (the library then refuses keys that claim another user).

import { keyIdNumber, matrixUser, ourUser, packJson, toBase64, fromBase64, unpackJson } from './ids.js';

const ALGORITHM = 'signed_curve25519';

export class DirectoryGlue {
  /** `api`: core/api.js's `api` (get, post, put, delete), `lib`: the library, `me`: {userId, deviceId}. */
  constructor(api, lib, me) {
    this.api = api;
    this.lib = lib;
    this.me = me;
    this.identityKey = null; // this device's published identity_key (base64), once known
    this.directoryIds = new Map(); // `${userId}|${library device id}` -> the directory's device id
  }

  /** The answer (a JSON string) to one of the library's outgoing requests. */
  async answer(request) {
    const { RequestType } = this.lib;
    switch (request.type) {
      case RequestType.KeysUpload:
        return JSON.stringify(await this.upload(JSON.parse(request.body)));
      case RequestType.KeysQuery:
        return JSON.stringify(await this.query(JSON.parse(request.body)));
      case RequestType.KeysClaim:
        return JSON.stringify(await this.claim(JSON.parse(request.body)));
      case RequestType.ToDevice:
        return JSON.stringify(await this.toDevice(request.event_type, JSON.parse(request.body)));
      default:
        return '{}'; // cross-signing, backups, in-room verification: not used (yet)
    }
  }

  // -- this device's keys ------------------------------------------------------------------------------
  async upload(body) {
    const oneTime = Object.entries(body.one_time_keys ?? {}).map(([id, value]) => ({
      key_id: keyIdNumber(id),
      public_key: packJson({ id, ...value }),
    }));
    const [fallback] = Object.entries(body.fallback_keys ?? {});
    let state;
    if (fallback) {
      // A fallback key (with the device keys the first time): PUT, which keeps the one-time prekeys when the
      // identity stays the same.
      const [id, { signatures, ...unsigned }] = fallback;
      const signature = Object.values(signatures[this.me.userId] ?? {})[0];
      if (!signature) throw new Error('the fallback key is not signed by this device');
      const identity = body.device_keys ? packJson(body.device_keys) : await this.myIdentityKey();
      state = await this.api.put('/api/keys/device', {
        identity_key: identity,
        signed_prekey: { key_id: keyIdNumber(id), public_key: packJson({ id, ...unsigned }), signature: toBase64(fromBase64(signature)) },
        one_time_prekeys: oneTime,
      });
      this.identityKey = state.identity_key;
    } else if (body.device_keys) {
      throw new Error('device keys come with a fallback key: start the machine with no unused fallback key');
    } else if (oneTime.length) {
      state = await this.api.post('/api/keys/device/one-time', { one_time_prekeys: oneTime });
    } else {
      state = await this.api.get('/api/keys/device');
    }
    this.published = state.device_id;
    return { one_time_key_counts: { [ALGORITHM]: state.one_time_prekey_count } };
  }

  async myIdentityKey() {
    if (!this.identityKey) this.identityKey = (await this.api.get('/api/keys/device')).identity_key;
    return this.identityKey;
  }

  // -- other devices -------------------------------------------------------------------------------------
  /** A user's devices from the directory: [{directory id, the library's device keys}], filed under that user. */
  async devicesOf(userId) {
    const { devices } = await this.api.get(`/api/keys/users/${encodeURIComponent(userId)}`);
    const found = [];
    for (const bundle of devices) {
      let keys;
      try {
        keys = unpackJson(bundle.identity_key);
      } catch {
        continue; // not a device of this app's crypto (another client's keys): nothing to talk to
      }
      if (typeof keys?.device_id !== 'string') continue;
      this.directoryIds.set(`${userId}|${keys.device_id}`, bundle.device_id);
      found.push({ bundle, keys });
    }
    return found;
  }

  async query(body) {
    const device_keys = {};
    const failures = {};
    for (const matrixId of Object.keys(body.device_keys ?? {})) {
      const userId = ourUser(matrixId);
      if (!userId) continue;
      device_keys[matrixId] = {};
      for (const { keys } of await this.devicesOf(userId)) device_keys[matrixId][keys.device_id] = keys;
    }
    return { device_keys, failures, master_keys: {}, self_signing_keys: {}, user_signing_keys: {} };
  }

  async claim(body) {
    const one_time_keys = {};
    for (const [matrixId, wanted] of Object.entries(body.one_time_keys ?? {})) {
      const userId = ourUser(matrixId);
      if (!userId) continue;
      const known = await this.devicesOf(userId);
      const byDirectory = new Map(known.map(({ bundle, keys }) => [bundle.device_id, keys]));
      const ids = known.filter(({ keys }) => keys.device_id in wanted).map(({ bundle }) => bundle.device_id);
      if (!ids.length) continue;
      const claimed = await this.api.post(`/api/keys/users/${encodeURIComponent(userId)}/claim`, { device_ids: ids });
      one_time_keys[matrixId] = {};
      for (const bundle of claimed.devices) {
        const keys = byDirectory.get(bundle.device_id);
        if (!keys) continue;
        one_time_keys[matrixId][keys.device_id] = bundle.one_time_prekey
          ? oneTimeKey(bundle.one_time_prekey)
          : fallbackKey(bundle, keys); // none left: the signed prekey, as X3DH without a one-time prekey
      }
    }
    return { one_time_keys, failures: {} };
  }

  /** The directory's id of a user's device named by its library id (fetching the user's devices if unknown). */
  async directoryId(userId, deviceId) {
    const key = `${userId}|${deviceId}`;
    if (!this.directoryIds.has(key)) await this.devicesOf(userId);
    return this.directoryIds.get(key) ?? null;
  }

  // -- to-device -----------------------------------------------------------------------------------------
  /** `{messages: {matrix user: {library device id or "*": content}}}` through the inbox; returns {}. */
  async toDevice(eventType, body) {
    const messages = {};
    for (const [matrixId, devices] of Object.entries(body.messages ?? {})) {
      const userId = ourUser(matrixId);
      if (!userId) continue;
      for (const [deviceId, content] of Object.entries(devices)) {
        const target = deviceId === '*' ? '*' : await this.directoryId(userId, deviceId);
        if (!target) continue; // a device that has gone: the library retries with the next key share
        (messages[userId] ??= {})[target] = content;
      }
    }
    if (Object.keys(messages).length) await this.sendInChunks(eventType, messages);
    return {};
  }

  /** POST /api/todevice, at most 250 payloads a request (the server's limit). */
  async sendInChunks(eventType, messages) {
    let chunk = {};
    let count = 0;
    const flush = async () => {
      if (count) await this.api.post('/api/todevice', { type: eventType, messages: chunk });
      chunk = {};
      count = 0;
    };
    for (const [userId, devices] of Object.entries(messages)) {
      for (const [deviceId, content] of Object.entries(devices)) {
        if (count === 250) await flush();
        (chunk[userId] ??= {})[deviceId] = content;
        count += 1;
      }
    }
    await flush();
  }

  /** An inbox message as the to-device event the library expects. */
  static toDeviceEvent(message) {
    return { type: message.type, sender: matrixUser(message.sender_id), content: message.content };
  }
}

function oneTimeKey(prekey) {
  const { id, ...value } = unpackJson(prekey.public_key);
  return { [id]: value };
}

function fallbackKey(bundle, keys) {
  const { id, ...rest } = unpackJson(bundle.signed_prekey.public_key);
  const signature = bundle.signed_prekey.signature.replace(/=+$/, ''); // Matrix writes base64 unpadded
  return { [id]: { ...rest, signatures: { [keys.user_id]: { [`ed25519:${keys.device_id}`]: signature } } } };
}
