// Finding people over the API (/api/people/*), the username rules the server applies (checked here first, so
// the form answers as the user types), and the sentences for what can go wrong, in the user's language.

import { api, ApiError } from '../core/api.js';
import { t, tn } from '../core/i18n.js';

const USERNAME = /^[A-Za-z][A-Za-z0-9_]{2,31}$/;

/** The username typed, without a leading @ and spaces. */
export function cleanUsername(value) {
  return String(value || '').trim().replace(/^@/, '');
}

/** Why `name` (cleaned) is not a username, or null when it is one (the server has the last word). */
export function usernameProblem(name) {
  if (USERNAME.test(name)) return null;
  if (name.length < 3 || name.length > 32) return t('people.username.length');
  if (!/^[A-Za-z]/.test(name)) return t('people.username.first');
  return t('people.username.chars');
}

/** {username, available, reason}: whether a username is free ("taken", "reserved"); needs no sign-in. */
export function checkUsername(name, { signal } = {}) {
  return api.get(`/api/people/usernames/${encodeURIComponent(name)}`, { signal, auth: false });
}

/** One person ({id, display_name, username}) by exact username or e-mail; a 404 ApiError when nobody. */
export function findPerson(query, { signal } = {}) {
  return api.post('/api/people/lookup', query, { signal });
}

/** A page of contacts: {contacts: [{id, display_name, username, active_at}], next}. */
export function listContacts({ cursor = null, signal } = {}) {
  const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
  return api.get(`/api/people/contacts${query}`, { signal });
}

/** The sentence for a username the server refused, or null when the error is about something else. */
export function usernameRefusal(err, name) {
  if (!(err instanceof ApiError)) return null;
  if (err.code === 'username_taken') return t('people.username.taken', { name });
  if (err.code === 'username_reserved') return t('people.username.reserved', { name });
  if (err.code === 'invalid_username') return usernameProblem(name) || t('people.username.chars');
  return null;
}

/** The sentence for a failed call, or null when there is nothing to show (it was aborted). */
export function describeFailure(err) {
  if (err && err.name === 'AbortError') return null;
  if (!(err instanceof ApiError)) {
    console.error(err);
    return t('people.error.other');
  }
  if (err.status === 0) return t('people.error.network');
  if (err.status === 429) return err.retryAfter ? tn('people.error.wait', err.retryAfter) : t('people.error.later');
  if (err.status >= 500) return t('people.error.server');
  return t('people.error.other');
}

/** The "message me" link of a username: this app's address, opening that person. */
export function messageMeLink(username) {
  return `${location.origin}/#/u/${encodeURIComponent(username)}`;
}
