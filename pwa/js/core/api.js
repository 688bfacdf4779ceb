// HTTP client for the JSON API: holds the tokens, adds the bearer header, refreshes once on a 401.
//
// The access token lives only in memory; the refresh token is kept in localStorage so a reload or a
// new window stays signed in. Refreshes are serialised: concurrent callers in this window share one
// promise, and windows of the same origin take turns through a Web Lock, so a rotated refresh token
// is never sent twice.

import { language, t } from './i18n.js';

const REFRESH_KEY = 'realtime.refresh_token';
const REFRESH_LOCK = 'realtime.token-refresh';
const EARLY_REFRESH_MS = 30_000;

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the server could not be reached
   * @param {string} code machine-readable error code
   * @param {string} message human-readable message from the server ('' if none)
   * @param {string|null} field the request field the error is about, if any
   * @param {number|null} retryAfter seconds to wait, on a 429
   * @param {string} messageLanguage the language `message` is in (the server answers in the one asked for)
   */
  constructor(status, code, message = '', field = null, retryAfter = null, messageLanguage = 'en') {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.serverMessage = message;
    this.field = field;
    this.retryAfter = retryAfter;
    this.language = messageLanguage;
  }
}

let accessToken = null;
let refreshAt = Infinity;
let currentUser = null;
let refreshPromise = null;
const listeners = new Set();

function readRefreshToken() {
  try {
    return localStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function writeRefreshToken(value) {
  try {
    if (value) localStorage.setItem(REFRESH_KEY, value);
    else localStorage.removeItem(REFRESH_KEY);
  } catch {
    // Storage can be unavailable (private mode, quota); the session then lasts as long as the page.
  }
}

function emit(change) {
  for (const listener of listeners) {
    try {
      listener(change);
    } catch (err) {
      console.error(err);
    }
  }
}

/** Subscribe to sign-in / sign-out / user changes; returns an unsubscribe function. */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function isSignedIn() {
  return accessToken !== null || readRefreshToken() !== null;
}

export function getUser() {
  return currentUser;
}

/** Whether the signed-in user (or `user`) is a server admin: the console's link and screens show for them. */
export function isAdmin(user = getUser()) {
  return Boolean(user && user.role === 'admin');
}

export function setUser(user) {
  currentUser = user;
  emit({ signedIn: true, reason: 'user', user });
}

/** Store the tokens from a login or refresh response. */
export function setSession(data) {
  if (!data || typeof data.access_token !== 'string') {
    throw new ApiError(500, 'bad_response', t('core.error.bad_response'));
  }
  const wasSignedIn = accessToken !== null;
  accessToken = data.access_token;
  const lifetimeMs = Number(data.expires_in) * 1000;
  refreshAt = lifetimeMs > 0
    ? Date.now() + lifetimeMs - Math.min(EARLY_REFRESH_MS, lifetimeMs / 4)
    : Infinity;
  if (typeof data.refresh_token === 'string') writeRefreshToken(data.refresh_token);
  if (data.user) currentUser = data.user;
  if (!wasSignedIn) emit({ signedIn: true, reason: 'signed_in', user: currentUser });
}

/** Forget every token. `reason` tells listeners why: 'signed_out', 'expired', 'signed_out_elsewhere'. */
export function clearSession(reason = 'signed_out') {
  const wasSignedIn = accessToken !== null || readRefreshToken() !== null || currentUser !== null;
  accessToken = null;
  refreshAt = Infinity;
  currentUser = null;
  writeRefreshToken(null);
  if (wasSignedIn) emit({ signedIn: false, reason, user: null });
}

function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number.parseInt(value, 10);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

async function readBody(response) {
  if (response.status === 204 || response.status === 205) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return response.ok ? text : null;
  }
}

/** One HTTP exchange, no retries. Throws ApiError for network failures and non-2xx answers. */
async function send(method, path, { body, token, signal } = {}) {
  const headers = { Accept: 'application/json', 'Accept-Language': language() }; // the server's messages in it
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token) headers.Authorization = `Bearer ${token}`;

  let response;
  try {
    if (navigator.onLine === false) throw new TypeError('offline'); // the device is offline: no request to fail
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', t('core.error.network_error'));
  }
  let data = null;
  try {
    data = await readBody(response);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
  }
  if (response.ok) return data;

  const error = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {};
  // ThingSpeak-compatible routes answer {"error": {"error_code", "message", "details"}}; details says what was wrong.
  const code = typeof error.code === 'string' ? error.code : error.error_code;
  const message = typeof error.details === 'string' && error.details ? error.details : error.message;
  throw new ApiError(
    response.status,
    typeof code === 'string' ? code : `http_${response.status}`,
    typeof message === 'string' ? message : '',
    typeof error.field === 'string' && error.field ? error.field : null,
    response.status === 429 ? parseRetryAfter(response.headers.get('Retry-After')) : null,
    response.headers.get('Content-Language') || 'en',
  );
}

function withRefreshLock(task) {
  if (typeof navigator !== 'undefined' && navigator.locks && navigator.locks.request) {
    return navigator.locks.request(REFRESH_LOCK, task);
  }
  return task();
}

async function refreshNow() {
  // A second pass covers another window rotating the token while our request was in flight.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const token = readRefreshToken();
    if (!token) {
      clearSession('expired');
      throw new ApiError(401, 'not_signed_in', t('core.error.not_signed_in'));
    }
    try {
      const data = await send('POST', '/api/auth/refresh', { body: { refresh_token: token } });
      setSession(data);
      return;
    } catch (err) {
      const rejected = err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429;
      if (!rejected) throw err; // offline, server error, rate limit: keep the tokens and let the caller retry later
      const latest = readRefreshToken();
      if (latest && latest !== token && attempt === 0) continue;
      clearSession('expired');
      throw err;
    }
  }
}

/** Exchange the refresh token for a new access token. Concurrent callers share one refresh. */
export function refresh() {
  if (!refreshPromise) {
    refreshPromise = withRefreshLock(refreshNow).finally(() => {
      refreshPromise = null;
    });
  }
  return refreshPromise;
}

/** A current access token (refreshed first if it is about to expire), e.g. for the WebSocket's `auth`. */
export async function accessTokenForSocket() {
  return usableAccessToken();
}

async function usableAccessToken() {
  if (accessToken !== null && Date.now() < refreshAt) return accessToken;
  await refresh();
  return accessToken;
}

/**
 * Call the API. Authenticated calls (the default) carry the access token; a 401 triggers one
 * refresh and one retry, and a second 401 signs the user out.
 */
export async function request(method, path, { body, signal, auth = true } = {}) {
  if (!auth) return send(method, path, { body, signal });

  const token = await usableAccessToken();
  try {
    return await send(method, path, { body, signal, token });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  // Another caller may already have refreshed while this request was out.
  if (accessToken === null || accessToken === token) await refresh();
  try {
    return await send(method, path, { body, signal, token: accessToken });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) clearSession('expired');
    throw err;
  }
}

export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, body, options) => request('POST', path, { ...options, body }),
  put: (path, body, options) => request('PUT', path, { ...options, body }),
  patch: (path, body, options) => request('PATCH', path, { ...options, body }),
  delete: (path, options) => request('DELETE', path, options),
};

/** Follow sign-outs and sign-ins made in other windows of this app (app.js calls it once, at start). */
export function followOtherWindows() {
  window.addEventListener('storage', (event) => {
    if (event.key !== REFRESH_KEY && event.key !== null) return;
    const token = readRefreshToken();
    if (!token && (accessToken !== null || currentUser !== null)) {
      clearSession('signed_out_elsewhere');
    } else if (token && accessToken === null && event.oldValue === null) {
      emit({ signedIn: true, reason: 'signed_in_elsewhere', user: null });
    }
  });
}
