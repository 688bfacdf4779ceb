// The signed-in home screen: the profile (editable), the list of signed-in sessions, sign out.

import { ApiError, clearSession } from '../core/api.js';
import { card, describeError, describeUserAgent, h, isAbort, timeElement, wideScreen } from '../core/dom.js';
import { actionButton, check, createForm, field, problems } from '../core/forms.js';
import { keysSections } from './keys.js';
import { endSession, getUser, listSessions, loadProfile, signOut, updateProfile } from './auth.js';
import { usernameSection } from './username.js';

export function homeView({ signal }) {
  return wideScreen('Your account',
    chatsSection(),
    dashboardSection(),
    profileSection(signal),
    usernameSection(signal),
    sessionsSection(signal),
    keysSections(signal),
    signOutSection());
}

function chatsSection() {
  const { element } = card('Chats',
    h('p', { class: 'muted' }, 'Your conversations, live on every device you sign in on.'),
    h('p', { class: 'actions' }, h('a', { class: 'button primary', href: '#/chats' }, 'Open chats')));
  return element;
}

function dashboardSection() {
  const { element } = card('IoT dashboard',
    h('p', { class: 'muted' }, 'Your channels: the points your devices send, charted live.'),
    h('p', { class: 'actions' }, h('a', { class: 'button', href: '#/channels' }, 'Open channels')));
  return element;
}

function profileSection(signal) {
  const { element } = card('Profile');
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading your profile…'));
  element.append(body);

  let form = null;
  const cached = getUser();
  if (cached) form = showForm(cached);

  loadProfile({ signal }).then((user) => {
    // Fresh data replaces the form unless the user has already started editing it.
    if (!signal.aborted && (!form || !form.dirty())) form = showForm(user);
  }, (err) => {
    if (signal.aborted || isAbort(err) || form) return;
    const message = describeError(err);
    if (message === null) return;
    const retry = h('button', { type: 'button', class: 'button' }, 'Try again');
    retry.addEventListener('click', () => {
      body.replaceChildren(h('p', { class: 'muted' }, 'Loading your profile…'));
      loadProfile({ signal }).then((user) => { form = showForm(user); }, (e) => {
        const m = describeError(e);
        if (m) body.replaceChildren(h('p', { class: 'notice error' }, m), retry);
      });
    });
    body.removeAttribute('aria-busy');
    body.replaceChildren(h('p', { class: 'notice error' }, message), retry);
  });

  function showForm(user) {
    const profile = profileForm(user);
    body.removeAttribute('aria-busy');
    body.replaceChildren(profile.element);
    return profile;
  }
  return element;
}

function profileForm(initial) {
  let user = initial;
  const displayName = field({
    name: 'display_name', label: 'Display name', autocomplete: 'nickname', required: true, maxlength: 100,
    value: user.display_name || '',
  });
  const phone = field({
    name: 'phone', label: 'Phone', type: 'tel', autocomplete: 'tel', inputmode: 'tel', maxlength: 32,
    value: user.phone || '', hint: 'Leave it empty to remove your number.',
  });
  const status = h('p', { class: 'status', role: 'status' });
  const verified = user.email_verified
    ? h('span', { class: 'badge success' }, 'Verified')
    : h('span', { class: 'badge warning' }, 'Not verified');
  const facts = h('dl', { class: 'facts' },
    h('div', null, h('dt', null, 'E-mail'), h('dd', null, h('span', { class: 'email' }, user.email || ''), ' ', verified)),
    // Others start a direct chat with you by this id (the chat API takes user ids).
    h('div', null, h('dt', null, 'User id'), h('dd', null, h('span', { class: 'mono user-id' }, user.id || ''))),
    user.created_at ? h('div', null, h('dt', null, 'Member since'), h('dd', null, timeElement(user.created_at, { dateOnly: true }))) : null);

  let edited = false;
  const form = createForm({
    fields: [displayName, phone],
    submitLabel: 'Save changes',
    busyLabel: 'Saving…',
    before: [facts],
    after: [status],
    validate: (v) => problems({ display_name: check.required(v.display_name, 'Enter the name people will see.') }),
    onSubmit: async (v) => {
      status.textContent = '';
      const changes = {};
      if (v.display_name !== (user.display_name || '')) changes.display_name = v.display_name;
      const newPhone = v.phone === '' ? null : v.phone;
      if (newPhone !== (user.phone ?? null)) changes.phone = newPhone;
      if (Object.keys(changes).length === 0) {
        status.textContent = 'Nothing to save: no changes.';
        return;
      }
      user = await updateProfile(changes);
      displayName.input.value = user.display_name || '';
      phone.input.value = user.phone || '';
      edited = false;
      status.textContent = 'Saved.';
    },
  });
  form.form.addEventListener('input', () => {
    edited = true;
    status.textContent = '';
  });
  return { element: form.form, dirty: () => edited };
}

function sessionsSection(signal) {
  const { element, heading } = card('Signed-in devices');
  const intro = h('p', { class: 'muted' },
    'These devices are signed in to your account. End any session you do not recognise.');
  const list = h('ul', { class: 'sessions', 'aria-busy': 'true' });
  const status = h('p', { class: 'status', role: 'status' });
  let cursor = null;

  const more = actionButton({
    label: 'Show more',
    busyLabel: 'Loading…',
    status,
    onClick: () => loadPage({ reset: false }),
    attrs: { hidden: true },
  });
  const reload = actionButton({
    label: 'Refresh list',
    busyLabel: 'Refreshing…',
    status,
    onClick: () => loadPage({ reset: true }),
  });

  async function loadPage({ reset }) {
    list.setAttribute('aria-busy', 'true');
    try {
      const page = await listSessions({ cursor: reset ? null : cursor, signal });
      if (signal.aborted) return;
      const sessions = Array.isArray(page && page.sessions) ? page.sessions : [];
      const items = sessions.map(sessionItem);
      if (reset) list.replaceChildren(...items);
      else list.append(...items);
      if (!list.children.length) list.append(h('li', { class: 'muted' }, 'No sessions.'));
      cursor = page && page.next ? page.next : null;
      more.hidden = !cursor;
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function sessionItem(session) {
    const label = session.device || describeUserAgent(session.user_agent) || 'Unknown device';
    const item = h('li', { class: session.current ? 'session current' : 'session' });
    const end = actionButton({
      label: 'End',
      busyLabel: 'Ending…',
      className: 'button danger small',
      status,
      attrs: { 'aria-label': session.current ? `End this session on ${label} and sign out` : `End session on ${label}` },
      onClick: async () => {
        try {
          await endSession(session.id);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) throw err; // 404: already gone
        }
        if (session.current) {
          clearSession('signed_out');
          return undefined;
        }
        item.remove();
        heading.focus();
        return `Session on ${label} ended.`;
      },
    });
    item.append(
      h('div', { class: 'session-info' },
        h('p', { class: 'session-device' }, h('span', null, label),
          session.current ? h('span', { class: 'badge' }, 'This device') : null),
        h('p', { class: 'session-meta' },
          'Last active ', timeElement(session.last_seen_at),
          ' · signed in ', timeElement(session.created_at)),
        session.ip ? h('p', { class: 'session-meta' }, 'IP address ', h('span', { class: 'mono' }, session.ip)) : null,
        session.user_agent && session.user_agent !== label
          ? h('p', { class: 'session-ua' }, session.user_agent) : null),
      h('div', { class: 'session-actions' }, end));
    return item;
  }

  loadPage({ reset: true }).catch((err) => {
    if (signal.aborted || isAbort(err)) return;
    const message = describeError(err);
    if (message) status.textContent = message;
  });

  element.append(intro, list, h('div', { class: 'actions' }, more, reload), status);
  return element;
}

function signOutSection() {
  const status = h('p', { class: 'status', role: 'status' });
  const button = actionButton({
    label: 'Sign out',
    busyLabel: 'Signing out…',
    className: 'button',
    status,
    onClick: () => signOut(),
  });
  const { element } = card('Sign out',
    h('p', { class: 'muted' }, 'Sign out on this device. Your other sessions stay signed in.'),
    h('div', { class: 'actions' }, button),
    status);
  return element;
}
