// A channel's live entries over the app's one WebSocket (core/socket.js): channel.subscribe, channel.entries.
//
// After every (re)connect it subscribes again from the last entry id seen: the server backfills what was
// missed, so the chart has no gaps and no duplicates. See docs/protocol.md.

import { describeError } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { command, on, onReady, onStatus } from '../core/socket.js';

/**
 * Follow channel `channelId`. `onEntries(entries, {backfill})` gets every new entry once; `onStatus(state, detail)`
 * gets 'connecting' | 'live' | 'reconnecting' (detail: seconds until the next try) | 'offline' | 'failed'
 * (detail: a sentence). `lastEntryId()` says where to resume. Stops when `signal` aborts.
 */
export function followChannel({ channelId, lastEntryId, onEntries, onStatus: report, signal }) {
  let stopped = false;
  const unsubscribers = [];

  function status(state, detail) {
    if (!stopped) report(state, detail);
  }

  unsubscribers.push(on('channel.entries', (frame) => {
    if (stopped || frame.channel_id !== channelId || !Array.isArray(frame.entries)) return;
    onEntries(frame.entries, { backfill: Boolean(frame.backfill) });
  }));

  // The socket's own states, except 'live': this channel is live once its subscription is (below).
  unsubscribers.push(onStatus((state, seconds) => {
    if (state !== 'live' && state !== 'idle') status(state, seconds);
  }));

  unsubscribers.push(onReady(async () => {
    if (stopped) return;
    try {
      await command('channel.subscribe', { channel_id: channelId, after_entry_id: lastEntryId() });
    } catch (err) {
      if (stopped) return;
      if (err.code === 'channel_not_readable') {
        report('failed', t('iot.live.not_readable'));
        stop();
        return;
      }
      if (err.status === 0) return; // not connected: subscribed again after the reconnect
      if (err.code !== 'already_subscribed') {
        status('failed', (err.serverMessage && describeError(err)) || t('iot.live.unavailable'));
        return;
      }
    }
    status('live');
  }));

  function stop() {
    if (stopped) return;
    stopped = true;
    for (const unsubscribe of unsubscribers) unsubscribe();
    command('channel.unsubscribe', { channel_id: channelId }).catch(() => {
      // not connected (then nothing is subscribed), or already unsubscribed
    });
  }

  if (signal) {
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  }
  return { stop };
}

/**
 * One follower of a channel shared by the parts of a screen (chart, dashboard): `listen(fn)` gets every new
 * entry, `watch(fn)` every status; entries before `start()` are the caller's to load. Stops with `signal`.
 */
export function channelFeed(channelId, signal) {
  const listeners = new Set();
  const watchers = new Set();
  let lastId = 0;
  let last = ['connecting', undefined];
  return {
    listen(fn) {
      listeners.add(fn);
    },
    watch(fn) {
      watchers.add(fn);
      fn(...last);
    },
    /** Start following after entry `afterId` (the newest one already loaded). */
    start(afterId) {
      lastId = Math.max(lastId, afterId || 0);
      followChannel({
        channelId,
        lastEntryId: () => lastId,
        onEntries: (entries) => {
          for (const entry of entries) lastId = Math.max(lastId, Number(entry.entry_id) || 0);
          for (const fn of listeners) fn(entries);
        },
        onStatus: (state, detail) => {
          last = [state, detail];
          for (const fn of watchers) fn(state, detail);
        },
        signal,
      });
    },
  };
}

/**
 * A channelFeed for readers without the WebSocket (the public page, embeds): the latest points every `seconds`,
 * read with `get` (see chart-section.js); stores skip the entries they already have. Status: 'polling' (detail:
 * the seconds between reads) or 'failed' while reads fail. Stops with `signal`.
 */
export function pollingFeed(channelId, signal, { get, seconds = 15, results = 100 }) {
  const listeners = new Set();
  const watchers = new Set();
  let last = ['polling', seconds];
  let timer = 0;
  const report = (state, detail) => {
    last = [state, detail];
    for (const fn of watchers) fn(state, detail);
  };
  async function read() {
    const query = new URLSearchParams({ results: String(results), status: 'true', location: 'true' });
    try {
      const answer = await get(`/channels/${encodeURIComponent(channelId)}/feeds.json?${query}`, { signal });
      const entries = Array.isArray(answer && answer.feeds) ? answer.feeds : [];
      if (signal.aborted) return;
      for (const fn of listeners) fn(entries);
      if (last[0] !== 'polling') report('polling', seconds);
    } catch (err) {
      if (signal.aborted) return;
      report('failed', t('iot.live.unavailable'));
    }
    if (!signal.aborted) timer = setTimeout(read, seconds * 1000);
  }
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return {
    listen(fn) {
      listeners.add(fn);
    },
    watch(fn) {
      watchers.add(fn);
      fn(...last);
    },
    start() {
      if (!timer && !signal.aborted) timer = setTimeout(read, seconds * 1000);
    },
  };
}
