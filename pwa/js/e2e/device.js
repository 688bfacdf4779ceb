// This browser's end-to-end device: one OlmMachine of the crypto library per signed-in user, kept in IndexedDB
// (encrypted with the passphrase of store-key.js), its public keys published to the key directory and its
// one-time prekeys topped up when others have used them. It answers the library's requests through our API
// (glue.js), feeds it this device's to-device messages (the inbox, read when a `todevice` push says one came)
// and the users whose devices changed (`keys.changed`), and offers what end-to-end chats need: sessions with
// people's devices, encrypted to-device payloads, group (Megolm) keys, and encrypting and decrypting messages.
//
// Not imported by the shell: a screen imports it when it first needs it (`await import('/js/e2e/device.js')`).

import { api as defaultApi, getUser, onSessionChange } from '../core/api.js';
import * as defaultSocket from '../core/socket.js';
import { DirectoryGlue } from './glue.js';
import { matrixRoom, matrixUser, packJson, unpackJson } from './ids.js';
import { loadCrypto } from './library.js';
import { deviceRecord, forgetDevice, setPublished } from './store-key.js';

const ALGORITHM = 'signed_curve25519';
const INBOX_PAGE = 100;
const SYNC_RETRY_MS = 3000;

let opened = null; // {userId, promise} of the device of the signed-in user
let watching = false;

/** The signed-in user's device, opened (and published) once per page. Rejects with code `e2e_busy` while another
 * tab of this browser has it open: one machine per store at a time, or the two would overwrite each other. */
export function openDevice({ api = defaultApi, socket = defaultSocket } = {}) {
  const user = getUser();
  if (!user) return Promise.reject(new Error('sign in first'));
  watchSignOut();
  if (opened?.userId !== user.id) {
    const previous = opened;
    const closed = previous ? previous.promise.then((d) => d.close(), () => {}) : Promise.resolve();
    opened = { userId: user.id, promise: closed.then(() => E2eDevice.open(user.id, api, socket)) };
    opened.promise.catch(() => {
      if (opened?.userId === user.id) opened = null; // try again next time
    });
  }
  return opened.promise;
}

/** Signed out (here, elsewhere, or the session ended): the device is gone from the directory, so its keys and
 * sessions are of no more use here; delete them from this browser. */
function watchSignOut() {
  if (watching) return;
  watching = true;
  onSessionChange(({ signedIn }) => {
    if (signedIn || !opened) return;
    const { userId, promise } = opened;
    opened = null;
    promise
      .then(async (device) => {
        await device.close();
        await forgetDevice(userId, device.storeName);
      }, () => {})
      .catch(report);
  });
}

/** This tab's hold on the user's device (a Web Lock); resolves to its release, or null when another tab has it. */
function holdDevice(userId) {
  if (!navigator.locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    navigator.locks.request(`e2e-device-${userId}`, { ifAvailable: true }, (lock) => {
      if (!lock) {
        resolve(null);
        return undefined;
      }
      return new Promise((release) => resolve(release)); // held until the device closes
    });
  });
}

export class E2eDevice {
  static async open(userId, api, socket) {
    const release = await holdDevice(userId);
    if (!release) throw Object.assign(new Error('the end-to-end device is open in another tab'), { code: 'e2e_busy' });
    try {
      return await E2eDevice.start(userId, api, socket, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  static async start(userId, api, socket, release) {
    const lib = await loadCrypto();
    const storeName = `e2e-${userId}`;
    let record = await deviceRecord(userId);
    // Published before, but the directory has no keys for this session (a sign-out and in, or removed keys):
    // the local machine belongs to a device that is gone. Start a new one rather than speak for it.
    // (Asked only then: a device never published has nothing to check, and the 404 would only fill the console.)
    const mine = record.published
      ? await api.get('/api/keys/device').catch((err) => (err.status === 404 ? null : Promise.reject(err)))
      : null;
    if (record.published && mine?.device_id !== record.published) {
      await forgetDevice(userId, storeName);
      record = await deviceRecord(userId);
    }
    const machine = await lib.OlmMachine.initialize(
      new lib.UserId(matrixUser(userId)),
      new lib.DeviceId(record.deviceId),
      storeName,
      record.passphrase,
    );
    const device = new E2eDevice(lib, machine, api, userId, record);
    device.storeName = storeName;
    device.release = release;
    device.listen(socket);
    await machine.markAllTrackedUsersAsDirty(); // keys.changed may have come while this page had no machine
    await device.sync();
    if (!device.directoryId) throw new Error('the device keys were not published');
    return device;
  }

  constructor(lib, machine, api, userId, record) {
    this.lib = lib;
    this.machine = machine;
    this.api = api;
    this.userId = userId;
    this.deviceId = record.deviceId; // the library's
    this.directoryId = record.published; // the key directory's
    this.glue = new DirectoryGlue(api, lib, { userId: matrixUser(userId), deviceId: record.deviceId });
    this.queue = Promise.resolve();
    this.changed = new Set(); // users whose devices changed since the last sync
    this.syncing = null;
    this.again = false;
    this.lastId = 0; // the highest inbox id handed to the library
    this.since = null; // the directory's time of this device (seconds), once read
    this.retry = null; // the timer of the next sync after a failed one
    this.closed = false;
    this.listeners = new Set();
    this.stops = [];
  }

  listen(socket) {
    this.stops.push(
      socket.on('todevice', () => this.sync().catch(report)),
      socket.on('keys.changed', (frame) => {
        if (typeof frame.user_id === 'string') this.changed.add(frame.user_id);
        this.sync().catch(report);
      }),
      socket.onReady(() => this.sync().catch(report)), // after every reconnect: what came meanwhile
    );
  }

  /** `listener(event)` for each to-device event decrypted here (`{type, sender, content}`); returns a stop. */
  onToDevice(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Run `work` after everything queued before it: the machine's requests are never answered twice at once. */
  exclusive(work) {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Read the inbox and the changes into the library, answer its requests, acknowledge; again while more wait. */
  sync() {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.again = false;
          const more = await this.exclusive(() => this.syncOnce());
          if (more) this.again = true;
        } while (this.again);
      } catch (err) {
        // The inbox could not be read (a network fault): its pushes have come and gone, so try again in a while
        // rather than wait for the next one (messages wait for their keys meanwhile).
        if (!this.closed) this.retry ??= setTimeout(() => {
          this.retry = null;
          this.sync().catch(report);
        }, SYNC_RETRY_MS);
        throw err;
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  async syncOnce() {
    const { lib, machine } = this;
    const wasPublished = Boolean(this.directoryId);
    const changed = [...this.changed];
    this.changed.clear();
    let messages = [];
    let more = false;
    let count = 0;
    if (this.directoryId) {
      const page = await this.api.get(`/api/todevice?after=${this.lastId}&limit=${INBOX_PAGE}`);
      ({ messages, more } = page);
      const mine = await this.api.get('/api/keys/device');
      count = mine.one_time_prekey_count;
      this.since = mine.created_at; // when this device joined: older messages were never shared with it
    }
    const events = messages.map((m) => DirectoryGlue.toDeviceEvent(m));
    // No unused fallback key before the first upload: the library then makes one, to publish as the signed prekey.
    const unused = new Set(this.directoryId ? [ALGORITHM] : []);
    const processed = await machine.receiveSyncChanges(
      JSON.stringify(events),
      new lib.DeviceLists(changed.map((id) => new lib.UserId(matrixUser(id)))),
      new Map([[ALGORITHM, count]]),
      unused,
    );
    if (messages.length) this.lastId = messages[messages.length - 1].id;
    await this.flush();
    if (messages.length) await this.api.post('/api/todevice/ack', { up_to: this.lastId });
    for (const item of processed) {
      if (item.type !== lib.ProcessedToDeviceEventType.Decrypted) continue;
      const event = JSON.parse(item.rawEvent);
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          report(err);
        }
      }
    }
    return more || (!wasPublished && Boolean(this.directoryId)); // just published: now read the inbox
  }

  /** Answer every request the library has waiting (a failed one stays, and is sent again next time). */
  async flush() {
    for (const request of await this.machine.outgoingRequests()) await this.send(request);
  }

  async send(request) {
    let answer;
    try {
      answer = await this.glue.answer(request);
    } catch (err) {
      report(err);
      return;
    }
    await this.machine.markRequestAsSent(request.id, request.type, answer);
    if (this.glue.published && this.glue.published !== this.directoryId) {
      this.directoryId = this.glue.published;
      await setPublished(this.userId, this.directoryId);
    }
  }

  // -- what end-to-end chats use -------------------------------------------------------------------------
  /** Olm sessions with every device of these users (and this user's other devices), claiming prekeys as needed. */
  ensureSessions(userIds) {
    return this.exclusive(async () => {
      const { lib, machine } = this;
      const users = () => userIds.map((id) => new lib.UserId(matrixUser(id)));
      await machine.updateTrackedUsers(users());
      await this.flush(); // the keys query of newly tracked users
      const claim = await machine.getMissingSessions(users());
      if (claim) await this.send(claim);
    });
  }

  /** The library device ids of a user's known devices (this one left out). */
  async devicesOf(userId) {
    const devices = await this.machine.getUserDevices(new this.lib.UserId(matrixUser(userId)));
    const ids = devices.devices().map((d) => d.deviceId.toString());
    return ids.filter((id) => userId !== this.userId || id !== this.deviceId);
  }

  /** Encrypt `content` (an object) for each device of these users over Olm and send it through the inbox. */
  async sendToDevices(userIds, type, content) {
    await this.ensureSessions(userIds);
    return this.exclusive(async () => {
      const messages = {};
      for (const userId of userIds) {
        const devices = await this.machine.getUserDevices(new this.lib.UserId(matrixUser(userId)));
        for (const device of devices.devices()) {
          const id = device.deviceId.toString();
          if (userId === this.userId && id === this.deviceId) continue;
          const target = await this.glue.directoryId(userId, id);
          if (!target) continue;
          (messages[userId] ??= {})[target] = JSON.parse(await device.encryptToDeviceEvent(type, content));
        }
      }
      await this.glue.sendInChunks('m.room.encrypted', messages);
      return Object.values(messages).reduce((n, devices) => n + Object.keys(devices).length, 0);
    });
  }

  /** Share this device's group (Megolm) key of a chat with its members' devices; rotated as the settings say. */
  async shareChatKey(chatId, memberIds) {
    await this.ensureSessions(memberIds);
    return this.exclusive(async () => {
      const { lib } = this;
      const users = memberIds.map((id) => new lib.UserId(matrixUser(id)));
      const room = new lib.RoomId(matrixRoom(chatId));
      const requests = await this.machine.shareRoomKey(room, users, new lib.EncryptionSettings());
      for (const request of requests) await this.send(request);
    });
  }

  /** A message's `ciphertext` for a chat whose key was shared: the library's encrypted content (JSON), base64. */
  encryptMessage(chatId, content) {
    const room = new this.lib.RoomId(matrixRoom(chatId));
    return this.exclusive(async () => {
      const encrypted = await this.machine.encryptRoomEvent(room, 'm.room.message', JSON.stringify(content));
      return packJson(JSON.parse(encrypted));
    });
  }

  /** The content of a chat message (`{id, sender_id, created_at, ciphertext}`) made by `encryptMessage`. The
   * event is filed under its chat: a ciphertext presented as another chat's does not decrypt. A failure carries
   * `code`: 'waiting' (its key has not come yet: try again when to-device messages come), 'before' (its key can
   * never come: sent before this device existed) or 'broken' (anything else). */
  async decryptMessage(chatId, message) {
    const { lib } = this;
    const event = {
      type: 'm.room.encrypted',
      event_id: `$${chatId}.${message.id}`,
      sender: matrixUser(message.sender_id),
      origin_server_ts: Math.round(message.created_at * 1000),
      room_id: matrixRoom(chatId),
      content: unpackJson(message.ciphertext),
    };
    const settings = new lib.DecryptionSettings(lib.TrustRequirement.Untrusted); // until people compare keys
    const room = new lib.RoomId(matrixRoom(chatId));
    let decrypted;
    try {
      decrypted = await this.machine.decryptRoomEvent(JSON.stringify(event), room, settings);
    } catch (err) {
      throw Object.assign(new Error(err?.description || String(err)), { code: this.whyNot(err, message) });
    }
    return JSON.parse(decrypted.event).content;
  }

  whyNot(err, message) {
    const codes = this.lib.DecryptionErrorCode;
    if (err?.code !== codes.MissingRoomKey && err?.code !== codes.UnknownMessageIndex) return 'broken';
    // Megolm keys go to the devices there are when they are shared: a message older than this device never
    // reaches it (no key backup yet). A newer one's key is on its way (or its sender shares it with the next send).
    return this.since && message.created_at < this.since ? 'before' : 'waiting';
  }

  /** Stop listening and close the machine (its store stays for the next visit). */
  async close() {
    this.closed = true;
    clearTimeout(this.retry);
    for (const stop of this.stops.splice(0)) stop();
    await this.queue;
    this.machine.close();
    this.release?.();
  }
}

function report(err) {
  console.warn('end-to-end device:', err);
}
