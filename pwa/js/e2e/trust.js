// Whom this device has verified, and when a contact's keys changed (issue 15, "Trust"). There is no cross-signing:
// trust is per device, as the crypto library keeps it (`Device.isVerified()`, set by a SAS verification). A person
// counts as verified when every device of theirs this device knows is verified; a new device of theirs (a sign-in
// elsewhere publishes a new identity key, and the server says `keys.changed`) takes the mark away until they are
// verified again. What each contact's devices were is kept here, in IndexedDB, with the notices "X's security key
// changed" that the end-to-end chats with them show: the server never learns of either.
//
// Not imported by the shell: the end-to-end chat screens import it when they need it.

import { onSessionChange } from '../core/api.js';
import { dropDatabase, openKeeper } from '../core/idb.js';
import * as defaultSocket from '../core/socket.js';
import { matrixUser, ourUser } from './ids.js';

const NOTICES_KEPT = 20; // per contact
const running = new WeakMap(); // device -> Trust

/** The trust of this device (one per device object, started on first use). */
export function trustOf(device, socket = defaultSocket) {
  let trust = running.get(device);
  if (!trust) {
    trust = new Trust(device, socket);
    running.set(device, trust);
  }
  return trust;
}

const dbName = (userId) => `realtime-trust-${userId}`;

let current = null; // the Trust of the signed-in user's device
let watching = false;

/** Signed out: the device's keys are deleted from this browser, and what it knew of others goes with them. */
function closeOnSignOut() {
  if (watching) return;
  watching = true;
  onSessionChange(({ signedIn }) => {
    if (signedIn || !current) return;
    const trust = current;
    current = null;
    trust.close();
    trust.keeper.then((keeper) => keeper?.close()).finally(() => dropDatabase(dbName(trust.device.userId)));
  });
}

export class Trust {
  constructor(device, socket) {
    this.device = device;
    this.lib = device.lib;
    this.keeper = openKeeper(dbName(device.userId), 1, ['contacts']);
    this.listeners = new Set();
    this.checking = Promise.resolve();
    current?.close(); // another user's, whose device has closed
    current = this;
    closeOnSignOut();
    this.stops = [
      socket.on('keys.changed', (frame) => {
        if (typeof frame.user_id !== 'string' || frame.user_id === device.userId) return;
        // The device's own listener (registered first) has started a sync that fetches their devices: compare after.
        synced(device).then(() => this.check([frame.user_id])).catch(report);
      }),
      socket.on('todevice', () => synced(device).then(() => this.emit({ kind: 'todevice' })).catch(report)),
    ];
  }

  /** `listener({kind, userId?})` on a change: 'keys' (devices or notices), 'verified', 'todevice'. */
  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change) {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        report(err);
      }
    }
  }

  /** Follow these users' devices (fetching them when new to the library), then compare with what was kept. */
  async follow(userIds) {
    const others = userIds.filter((id) => id !== this.device.userId);
    if (!others.length) return;
    const { lib, device } = this;
    await device.exclusive(async () => {
      await device.machine.updateTrackedUsers(others.map((id) => new lib.UserId(matrixUser(id))));
      await device.flush(); // the keys query of users new to the library
    });
    await this.check(others);
  }

  /** The library's devices of a user (this device left out). */
  async devicesOf(userId) {
    const devices = await this.device.machine.getUserDevices(new this.lib.UserId(matrixUser(userId)));
    return devices.devices().filter((d) => userId !== this.device.userId || d.deviceId.toString() !== this.device.deviceId);
  }

  /** {devices, verified, unverified: [library device ids]} of a user as this device sees them now. */
  async stateOf(userId) {
    const devices = await this.devicesOf(userId);
    const unverified = devices.filter((d) => !d.isVerified()).map((d) => d.deviceId.toString());
    return { devices: devices.length, verified: devices.length > 0 && unverified.length === 0, unverified };
  }

  /** Compare the users' devices with those kept: a device key not seen before is a change (the first look is
   * not: that is trust on first use). Checks run one at a time. */
  check(userIds) {
    const run = this.checking.then(() => this.checkNow(userIds));
    this.checking = run.catch(report);
    return run;
  }

  async checkNow(userIds) {
    const keeper = await this.keeper;
    for (const userId of userIds) {
      const keys = (await this.devicesOf(userId)).map((d) => `${d.deviceId.toString()} ${d.ed25519Key?.toBase64()}`);
      if (!keys.length) continue; // not fetched yet, or none left: nothing to compare
      const kept = (await keeper?.get('contacts', userId)) ?? null;
      const known = new Set(kept?.keys ?? []);
      const fresh = keys.filter((k) => !known.has(k));
      if (kept && !fresh.length && keys.length === known.size) continue;
      const notices = [...(kept?.notices ?? [])];
      if (kept && fresh.length) notices.push({ at: Date.now(), dismissed: false });
      const record = { keys, notices: notices.slice(-NOTICES_KEPT) };
      await keeper?.write((stores) => stores.contacts.put(record, userId));
      if (kept && fresh.length) this.emit({ kind: 'keys', userId });
    }
  }

  /** The notices of a user's key changes still to show (newest last): [{at}]. */
  async noticesOf(userId) {
    const kept = await (await this.keeper)?.get('contacts', userId);
    return (kept?.notices ?? []).filter((n) => !n.dismissed);
  }

  /** Put a user's notices away (read, or verified again). */
  async dismiss(userId) {
    const keeper = await this.keeper;
    const kept = await keeper?.get('contacts', userId);
    if (!kept?.notices?.some((n) => !n.dismissed)) return;
    const record = { ...kept, notices: kept.notices.map((n) => ({ ...n, dismissed: true })) };
    await keeper.write((stores) => stores.contacts.put(record, userId));
    this.emit({ kind: 'keys', userId });
  }

  /** Verification requests from other people waiting for an answer here (the library's, to-device). */
  async incomingRequests() {
    const { lib, device } = this;
    const found = [];
    for (const user of await device.machine.trackedUsers()) {
      const userId = ourUser(user.toString());
      if (!userId || userId === device.userId) continue;
      for (const request of device.machine.getVerificationRequests(new lib.UserId(matrixUser(userId)))) {
        const waiting = request.phase() === lib.VerificationRequestPhase.Requested && !request.timedOut();
        if (waiting && !request.weStarted()) found.push(request);
      }
    }
    return found;
  }

  /** Send one of the library's requests now (and whatever else it has queued). */
  send(request) {
    const { device } = this;
    return device.exclusive(async () => {
      if (request) await device.send(request);
      await device.flush();
    });
  }

  close() {
    for (const stop of this.stops.splice(0)) stop();
  }
}

/** The device's sync under way (its own socket listeners start one), or a new one. */
function synced(device) {
  return device.syncing ?? device.sync();
}

function report(err) {
  console.warn('end-to-end trust:', err);
}
