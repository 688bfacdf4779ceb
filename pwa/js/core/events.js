// The signed-in user's numbered events (docs/protocol.md, "Resuming chat events"): one store owns the last
// seq this device processed, kept per user; after every (re)connect it sends `sync` from that seq (again
// while the server says `more`; starting over when it says `reset`), and it hands every push that carries a
// seq to the handler its domain registered for that type. A type nobody handles still moves the seq on.
//
// Events are applied idempotently by the domains, so a replay or a duplicate changes nothing; nothing is
// dropped here. The seq moves on with live events only: during a sync it jumps to the sync's last_seq.
// Domains register in their init functions (app.js calls them); importing this module registers nothing.

import { loadJson, saveJson } from './storage.js';

// Named when chat had the only numbered events; kept so that existing installs resume where they were.
const seqKey = (userId) => `realtime.chat.seq.${userId}`;

/**
 * The event store over the app's socket (core/socket.js: `command`, `onPush`, `onReady`). Call `start()`
 * once the domains have registered: its ready hook then runs before any a screen adds later.
 */
export function createEvents({ command, onPush, onReady }) {
  const handlers = new Map(); // event type -> handler(frame)
  const accountHooks = [];
  const resetHooks = [];
  const syncedHooks = [];
  let userId = null;
  let lastSeq = 0;
  let syncing = false;
  let started = false;

  function useAccount(id) {
    if (userId === id) return;
    userId = id;
    const seq = Number(loadJson(seqKey(id), 0));
    lastSeq = Number.isInteger(seq) && seq > 0 ? seq : 0;
  }

  function saveSeq() {
    if (userId) saveJson(seqKey(userId), lastSeq);
  }

  function receive(frame) {
    const handler = handlers.get(frame.type);
    const numbered = typeof frame.seq === 'number';
    if (!handler && !numbered) return; // typing, presence, channel entries: their own listeners take them
    if (!userId) return;
    if (handler) handler(frame); // if it throws, the seq stays: the next sync brings the event again
    if (!syncing && numbered && frame.seq > lastSeq) {
      lastSeq = frame.seq;
      saveSeq();
    }
  }

  // After every (re)connect: catch up from the last seq, then let the domains carry on (resend, follow…).
  async function catchUp({ userId: id }) {
    useAccount(id);
    syncing = true; // from here the seq moves with the sync only, also while the account hooks read this device
    try {
      await Promise.all(accountHooks.map((hook) => Promise.resolve().then(() => hook(id)).catch((err) => {
        console.error(err);
      })));
      let after = lastSeq;
      for (;;) {
        const result = await command('sync', { after_seq: after });
        after = result.last_seq;
        if (result.reset) {
          // Our seq is not this account's: the domains start over from the server's state.
          runHooks(resetHooks);
          break;
        }
        if (!result.more) break;
      }
      lastSeq = after;
      saveSeq();
    } finally {
      syncing = false;
    }
    runHooks(syncedHooks);
  }

  return {
    /** Send every event of `type` to `handler(frame)`; one domain per type. */
    handle(type, handler) {
      if (handlers.has(type)) throw new Error(`Events of type ${type} already have a handler.`);
      handlers.set(type, handler);
    },

    /**
     * `hook(userId)` after each authentication, before the sync: load that user's state on this device. The sync
     * waits for the promise it returns.
     */
    onAccount(hook) {
      accountHooks.push(hook);
    },

    /** `hook()` when the server says this device's seq is not the account's: drop what was synced, reload. */
    onReset(hook) {
      resetHooks.push(hook);
    },

    /** `hook()` after each sync has caught up. */
    onSynced(hook) {
      syncedHooks.push(hook);
    },

    /** Take pushes and sync after every (re)connect, from now on. */
    start() {
      if (started) return;
      started = true;
      onPush(receive);
      onReady(catchUp);
    },

    /** The last seq this device processed (its state holds every event up to it). */
    seq() {
      return lastSeq;
    },

    /**
     * State kept on this device is complete up to `seq` only (an account hook read it): the coming sync starts
     * there, replaying what followed (events apply idempotently).
     */
    rewind(seq) {
      if (Number.isInteger(seq) && seq >= 0 && seq < lastSeq) lastSeq = seq;
    },

    /** Sign-out: forget whose seq this was (it stays stored for that user's next sign-in). */
    forget() {
      userId = null;
      lastSeq = 0;
    },
  };
}

function runHooks(hooks, ...args) {
  for (const hook of hooks) {
    try {
      hook(...args);
    } catch (err) {
      console.error(err);
    }
  }
}
