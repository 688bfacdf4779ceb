// A channel's live entries over the app's WebSocket (/ws): auth, channel.subscribe, channel.entries.
//
// Reconnects with backoff and resumes from the last entry id seen: the server backfills what was missed,
// so the chart has no gaps and no duplicates. See docs/protocol.md.

import { accessTokenForSocket, clearSession, refresh } from './api.js';

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const SIGN_IN_AGAIN = new Set(['session_ended']);
const REFRESH_TOKEN = new Set(['invalid_token', 'token_expired']);

/**
 * Follow channel `channelId`. `onEntries(entries, {backfill})` gets every new entry once; `onStatus(state, detail)`
 * gets 'connecting' | 'live' | 'reconnecting' (detail: seconds until the next try) | 'offline' | 'failed'
 * (detail: a sentence). `lastEntryId()` says where to resume. Stops when `signal` aborts.
 */
export function followChannel({ channelId, lastEntryId, onEntries, onStatus, signal }) {
  let socket = null;
  let attempt = 0;
  let timer = 0;
  let nextId = 0;
  let stopped = false;
  const pending = new Map();

  function status(state, detail) {
    if (!stopped) onStatus(state, detail);
  }

  function url() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}/ws`;
  }

  function command(type, fields) {
    nextId += 1;
    const id = `c${nextId}`;
    socket.send(JSON.stringify({ type, id, ...fields }));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  async function connect() {
    timer = 0;
    if (stopped) return;
    if (!navigator.onLine) {
      status('offline');
      return; // the 'online' listener tries again
    }
    status(attempt === 0 ? 'connecting' : 'reconnecting', 0);
    let token;
    try {
      token = await accessTokenForSocket();
    } catch {
      if (!stopped) retry();
      return;
    }
    if (stopped) return;
    const ws = new WebSocket(url());
    socket = ws;
    ws.addEventListener('open', () => handshake(ws, token));
    ws.addEventListener('message', (event) => receive(event.data));
    ws.addEventListener('close', (event) => closed(ws, event));
  }

  async function handshake(ws, token) {
    try {
      await command('auth', { token });
      const after = lastEntryId();
      await command('channel.subscribe', { channel_id: channelId, after_entry_id: after });
      if (socket !== ws || stopped) return;
      attempt = 0;
      status('live');
    } catch (err) {
      if (socket !== ws || stopped) return;
      const code = err && err.code;
      if (SIGN_IN_AGAIN.has(code)) {
        stop();
        clearSession('expired');
        return;
      }
      if (REFRESH_TOKEN.has(code)) {
        try {
          await refresh();
        } catch {
          // refresh() signs out when the refresh token is refused; otherwise try again later.
        }
      } else if (code === 'channel_not_readable') {
        stop();
        onStatus('failed', 'This channel cannot be followed live: it no longer exists or is not yours.');
        return;
      }
      ws.close(1000);
    }
  }

  function receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    if ((frame.type === 'result' || frame.type === 'error') && pending.has(frame.id)) {
      const { resolve, reject } = pending.get(frame.id);
      pending.delete(frame.id);
      if (frame.type === 'result') resolve(frame.result);
      else reject(frame.error || { code: 'error' });
      return;
    }
    if (frame.type === 'channel.entries' && frame.channel_id === channelId && Array.isArray(frame.entries)) {
      if (!stopped) onEntries(frame.entries, { backfill: Boolean(frame.backfill) });
    }
  }

  function closed(ws, event) {
    if (socket !== ws) return;
    socket = null;
    for (const { reject } of pending.values()) reject({ code: 'closed' });
    pending.clear();
    if (stopped) return;
    if (event.code === 4003) {
      stop();
      clearSession('expired');
      return;
    }
    retry();
  }

  function retry() {
    if (stopped || timer) return;
    const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    attempt += 1;
    status(navigator.onLine ? 'reconnecting' : 'offline', Math.ceil(delay / 1000));
    timer = setTimeout(connect, delay);
  }

  function online() {
    if (stopped || socket) return;
    clearTimeout(timer);
    timer = 0;
    attempt = Math.max(attempt, 1);
    connect();
  }

  function offline() {
    if (!socket) status('offline');
  }

  function stop() {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener('online', online);
    window.removeEventListener('offline', offline);
    const ws = socket;
    socket = null;
    if (ws) {
      if (ws.readyState === WebSocket.OPEN) {
        try {
          nextId += 1;
          ws.send(JSON.stringify({ type: 'channel.unsubscribe', id: `c${nextId}`, channel_id: channelId }));
        } catch {
          // closing anyway
        }
      }
      ws.close(1000, 'left the screen');
    }
    pending.clear();
  }

  window.addEventListener('online', online);
  window.addEventListener('offline', offline);
  if (signal) {
    if (signal.aborted) return { stop };
    signal.addEventListener('abort', stop, { once: true });
  }
  connect();
  return { stop };
}
