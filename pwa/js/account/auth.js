// Account operations: one function per endpoint of /api/auth and /api/me.

import { api, clearSession, getUser, isSignedIn, setSession, setUser } from '../core/api.js';
import { language } from '../core/i18n.js';

// The server's token for this device: presented at the next sign-in, it lets the owner through while someone
// else's wrong guesses slow their account down. It outlives sign-out (it names the device, not a session).
const DEVICE_KEY = 'realtime.device_token';

function deviceToken() {
  try {
    return localStorage.getItem(DEVICE_KEY);
  } catch {
    return null;
  }
}

export async function signIn(email, password) {
  const body = { email, password };
  const known = deviceToken();
  if (known) body.device_token = known;
  const data = await api.post('/api/auth/login', body, { auth: false });
  if (data.device_token) {
    try {
      localStorage.setItem(DEVICE_KEY, data.device_token);
    } catch {
      // Storage refused (private mode): sign-in works the same, without the known-device allowance.
    }
  }
  setSession(data);
  return data.user;
}

export function register({ email, password, display_name, username = '' }) {
  const body = { email, password, display_name, language: language() };
  if (username) body.username = username; // optional: the account's once the address is confirmed
  return api.post('/api/auth/register', body, { auth: false });
}

export function resendVerification(email) {
  return api.post('/api/auth/verify/resend', { email }, { auth: false });
}

export function requestPasswordReset(email) {
  return api.post('/api/auth/password-reset', { email }, { auth: false });
}

/** Revoke this device's session on the server (best effort), then forget the tokens here. */
export async function signOut() {
  try {
    if (isSignedIn()) await api.post('/api/auth/logout', {});
  } catch {
    // Offline or already expired: the tokens are dropped locally all the same.
  } finally {
    clearSession('signed_out');
  }
}

export async function loadProfile({ signal } = {}) {
  const user = await api.get('/api/me', { signal });
  setUser(user);
  return user;
}

/** @param {{display_name?: string, phone?: string|null}} changes */
export async function updateProfile(changes, { signal } = {}) {
  const user = await api.patch('/api/me', changes, { signal });
  setUser(user);
  return user;
}

export function listSessions({ cursor = null, signal } = {}) {
  const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
  return api.get(`/api/me/sessions${query}`, { signal });
}

export function endSession(id) {
  return api.delete(`/api/me/sessions/${encodeURIComponent(id)}`);
}

export { getUser };
