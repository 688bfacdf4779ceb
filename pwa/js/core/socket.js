// The app's one WebSocket (/ws), shared by every screen: chat events, presence, live channel entries.
//
// While the user is signed in it stays connected: `auth` with the access token, then the ready hooks
// (event sync, channel subscriptions) after every (re)connect. Commands return promises; pushes go to
// the listeners of their type and to every push listener (the numbered events, core/events.js).
// Reconnects with backoff; an application-level ping finds dead links. Importing it starts nothing:
// startSocket() does. See docs/protocol.md.

import { ApiError, accessTokenForSocket, clearSession, refresh } from './api.js';
import { language, onLanguageChange, t } from './i18n.js';

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const COMMAND_TIMEOUT_MS = 15_000;
const PING_EVERY_MS = 30_000;
const SIGN_IN_AGAIN = new Set(['session_ended']);
const REFRESH_TOKEN = new Set(['invalid_token', 'token_expired']);
const CLOSE_SESSION_ENDED = 4003;

let wanted = false;
let socket = null;
let ready = false;
let userId = null;
let attempt = 0;
let timer = 0;
let pingTimer = 0;
let nextId = 0;
let state = 'idle';
let detail = 0;
let watching = false;
const pending = new Map();
const listeners = new Map();
const pushListeners = new Set();
const readyHooks = new Set();
const statusListeners = new Set();

/** The error a command failed with: an ApiError, so describeError() has a sentence for it. */
function commandError(error) {
  const code = (error && typeof error.code === 'string') ? error.code : 'error';
  const message = error && typeof error.message === 'string' ? error.message : '';
  if (code === 'closed' || code === 'timeout' || code === 'offline') {
    return new ApiError(0, code, t('core.error.offline_send'));
  }
  const status = code === 'rate_limited' ? 429 : 400;
  const retryAfter = Number.isFinite(error.retry_after) ? error.retry_after : null;
  return new ApiError(status, code, message, typeof error.field === 'string' ? error.field : null, retryAfter,
    socketLanguage);
}

function setStatus(next, nextDetail = 0) {
  state = next;
  detail = nextDetail;
  for (const listener of statusListeners) {
    try {
      listener(state, detail);
    } catch (err) {
      console.error(err);
    }
  }
}

let socketLanguage = 'en'; // the server's error messages on this socket are in it

// The app's language changed: the open socket's messages follow it (a new socket asks for it in its address).
onLanguageChange(() => {
  const ws = socket;
  const wanted = language();
  if (!ws || ws.readyState !== WebSocket.OPEN || wanted === socketLanguage) return;
  transmit(ws, 'language', { language: wanted }).then(() => {
    if (socket === ws) socketLanguage = wanted;
  }, () => {});
});

function url() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socketLanguage = language();
  return `${scheme}://${location.host}/ws?lang=${encodeURIComponent(socketLanguage)}`;
}

function transmit(ws, type, fields) {
  nextId += 1;
  const id = `c${nextId}`;
  const promise = new Promise((resolve, reject) => {
    const timeout = setTimeout(() => {
      pending.delete(id);
      reject(commandError({ code: 'timeout' }));
    }, COMMAND_TIMEOUT_MS);
    pending.set(id, { resolve, reject, timeout });
  });
  try {
    ws.send(JSON.stringify({ type, id, ...fields }));
  } catch {
    settle(id, null, { code: 'closed' });
  }
  return promise;
}

function settle(id, result, error) {
  const waiter = pending.get(id);
  if (!waiter) return;
  pending.delete(id);
  clearTimeout(waiter.timeout);
  if (error) waiter.reject(commandError(error));
  else waiter.resolve(result);
}

async function connect() {
  timer = 0;
  if (!wanted || socket) return;
  if (!navigator.onLine) {
    setStatus('offline');
    return; // the 'online' listener tries again
  }
  setStatus(attempt === 0 ? 'connecting' : 'reconnecting', 0);
  let token;
  try {
    token = await accessTokenForSocket();
  } catch {
    retry();
    return;
  }
  if (!wanted || socket) return;
  const ws = new WebSocket(url());
  socket = ws;
  ws.addEventListener('open', () => handshake(ws, token));
  ws.addEventListener('message', (event) => receive(event.data));
  ws.addEventListener('close', (event) => closed(ws, event));
}

async function handshake(ws, token) {
  try {
    const result = await transmit(ws, 'auth', { token });
    if (socket !== ws) return;
    userId = result.user_id;
    ready = true;
    attempt = 0;
    startPinging(ws);
    for (const hook of [...readyHooks]) await runHook(hook);
    if (socket === ws) setStatus('live');
  } catch (err) {
    if (socket !== ws) return;
    const code = err && err.code;
    if (SIGN_IN_AGAIN.has(code)) {
      stopSocket();
      clearSession('expired');
      return;
    }
    if (REFRESH_TOKEN.has(code)) {
      try {
        await refresh();
      } catch {
        // refresh() signs out when the refresh token is refused; otherwise try again later.
      }
    }
    ws.close(1000);
  }
}

async function runHook(hook) {
  try {
    await hook({ userId });
  } catch (err) {
    // A hook interrupted by a dropped connection runs again after the reconnect.
    if (!(err instanceof ApiError && err.status === 0)) console.error(err);
  }
}

function startPinging(ws) {
  clearInterval(pingTimer);
  pingTimer = setInterval(() => {
    if (socket !== ws) return;
    transmit(ws, 'ping', {}).catch(() => {
      if (socket === ws) ws.close(4000, 'no answer to ping');
    });
  }, PING_EVERY_MS);
}

function receive(raw) {
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return;
  }
  if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') return;
  if ((frame.type === 'result' || frame.type === 'error' || frame.type === 'pong') && pending.has(frame.id)) {
    if (frame.type === 'error') settle(frame.id, null, frame.error || { code: 'error' });
    else settle(frame.id, frame.result, null);
    return;
  }
  const handlers = [...(listeners.get(frame.type) || []), ...pushListeners];
  for (const handler of handlers) {
    try {
      handler(frame);
    } catch (err) {
      console.error(err);
    }
  }
}

function closed(ws, event) {
  if (socket !== ws) return;
  socket = null;
  ready = false;
  clearInterval(pingTimer);
  for (const id of [...pending.keys()]) settle(id, null, { code: 'closed' });
  if (!wanted) return;
  if (event.code === CLOSE_SESSION_ENDED) {
    stopSocket();
    clearSession('expired');
    return;
  }
  retry();
}

function retry() {
  if (!wanted || timer) return;
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  const delay = Math.round(base * (0.75 + Math.random() * 0.5));
  attempt += 1;
  setStatus(navigator.onLine ? 'reconnecting' : 'offline', Math.ceil(delay / 1000));
  timer = setTimeout(connect, delay);
}

function reconnectNow() {
  if (!wanted || socket) return;
  clearTimeout(timer);
  timer = 0;
  attempt = Math.max(attempt, 1);
  connect();
}

/** Reconnect as soon as the network is back or the page is shown again (once, at the first start). */
function watchNetwork() {
  if (watching || typeof window === 'undefined') return;
  watching = true;
  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', () => {
    if (!socket && wanted) setStatus('offline');
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') reconnectNow();
  });
}

/** Connect (if not already) and stay connected until stopSocket(). */
export function startSocket() {
  watchNetwork();
  wanted = true;
  if (!socket && !timer) connect();
}

/** Close the connection and stay closed (sign-out). */
export function stopSocket() {
  wanted = false;
  clearTimeout(timer);
  timer = 0;
  clearInterval(pingTimer);
  attempt = 0;
  const ws = socket;
  socket = null;
  ready = false;
  userId = null;
  for (const id of [...pending.keys()]) settle(id, null, { code: 'closed' });
  if (ws) ws.close(1000, 'signed out');
  setStatus('idle');
}

/** True once the connection is authenticated (ready hooks may still be running). */
export function isReady() {
  return ready;
}

/**
 * Send a command; resolves with its result, rejects with an ApiError (status 0 when not connected,
 * so the caller can try again later).
 */
export function command(type, fields = {}) {
  if (!socket || !ready) return Promise.reject(commandError({ code: 'offline' }));
  return transmit(socket, type, fields);
}

/** Call `handler(frame)` for every push of this type; returns an unsubscribe function. */
export function on(type, handler) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(handler);
  return () => listeners.get(type)?.delete(handler);
}

/**
 * Call `handler(frame)` for every push, whatever its type, after the listeners of its type; returns an
 * unsubscribe function.
 */
export function onPush(handler) {
  pushListeners.add(handler);
  return () => pushListeners.delete(handler);
}

/**
 * Run `hook({userId})` after every authentication (now, too, if already connected). Hooks run one after
 * another in the order they were added; the status turns 'live' when all have finished.
 */
export function onReady(hook) {
  readyHooks.add(hook);
  if (ready) runHook(hook);
  return () => readyHooks.delete(hook);
}

/**
 * `listener(state, detail)` on every change: 'idle' | 'connecting' | 'live' | 'reconnecting' (detail:
 * seconds until the next try) | 'offline'. Called once now with the current state.
 */
export function onStatus(listener) {
  statusListeners.add(listener);
  listener(state, detail);
  return () => statusListeners.delete(listener);
}
