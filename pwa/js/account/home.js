// The signed-in home screen: the profile (editable), the list of signed-in sessions, sign out.

import { ApiError, clearSession } from '../core/api.js';
import { card, describeError, describeUserAgent, h, isAbort, textWith, timeElement, wideScreen } from '../core/dom.js';
import { actionButton, check, createForm, field, problems } from '../core/forms.js';
import { t } from '../core/i18n.js';
import { languageSection } from './language.js';
import { keysSections } from './keys.js';
import { endSession, getUser, listSessions, loadProfile, signOut, updateProfile } from './auth.js';
import { usernameSection } from './username.js';

export function homeView({ signal }) {
  return wideScreen(t('account.title'),
    chatsSection(),
    dashboardSection(),
    profileSection(signal),
    languageSection(),
    usernameSection(signal),
    sessionsSection(signal),
    keysSections(signal),
    signOutSection());
}

function chatsSection() {
  const { element } = card(t('account.chats.title'),
    h('p', { class: 'muted' }, t('account.chats.intro')),
    h('p', { class: 'actions' }, h('a', { class: 'button primary', href: '#/chats' }, t('account.chats.open'))));
  return element;
}

function dashboardSection() {
  const { element } = card(t('account.iot.title'),
    h('p', { class: 'muted' }, t('account.iot.intro')),
    h('p', { class: 'actions' }, h('a', { class: 'button', href: '#/channels' }, t('account.iot.open'))));
  return element;
}

function profileSection(signal) {
  const { element } = card(t('account.profile.title'));
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('account.profile.loading')));
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
    const retry = h('button', { type: 'button', class: 'button' }, t('account.try_again'));
    retry.addEventListener('click', () => {
      body.replaceChildren(h('p', { class: 'muted' }, t('account.profile.loading')));
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
    name: 'display_name', label: t('account.display_name'), autocomplete: 'nickname', required: true, maxlength: 100,
    value: user.display_name || '',
  });
  const phone = field({
    name: 'phone', label: t('account.profile.phone'), type: 'tel', autocomplete: 'tel', inputmode: 'tel', maxlength: 32,
    value: user.phone || '', hint: t('account.profile.phone_hint'),
  });
  const status = h('p', { class: 'status', role: 'status' });
  const verified = user.email_verified
    ? h('span', { class: 'badge success' }, t('account.profile.verified'))
    : h('span', { class: 'badge warning' }, t('account.profile.not_verified'));
  const facts = h('dl', { class: 'facts' },
    h('div', null, h('dt', null, t('account.email')), h('dd', null, h('span', { class: 'email' }, user.email || ''), ' ', verified)),
    // Others start a direct chat with you by this id (the chat API takes user ids).
    h('div', null, h('dt', null, t('account.profile.user_id')), h('dd', null, h('span', { class: 'mono user-id' }, user.id || ''))),
    user.created_at ? h('div', null, h('dt', null, t('account.profile.since')), h('dd', null, timeElement(user.created_at, { dateOnly: true }))) : null);

  let edited = false;
  const form = createForm({
    fields: [displayName, phone],
    submitLabel: t('account.profile.save'),
    busyLabel: t('account.profile.saving'),
    before: [facts],
    after: [status],
    validate: (v) => problems({ display_name: check.required(v.display_name, t('account.display_name_empty')) }),
    onSubmit: async (v) => {
      status.textContent = '';
      const changes = {};
      if (v.display_name !== (user.display_name || '')) changes.display_name = v.display_name;
      const newPhone = v.phone === '' ? null : v.phone;
      if (newPhone !== (user.phone ?? null)) changes.phone = newPhone;
      if (Object.keys(changes).length === 0) {
        status.textContent = t('account.profile.unchanged');
        return;
      }
      user = await updateProfile(changes);
      displayName.input.value = user.display_name || '';
      phone.input.value = user.phone || '';
      edited = false;
      status.textContent = t('account.profile.saved');
    },
  });
  form.form.addEventListener('input', () => {
    edited = true;
    status.textContent = '';
  });
  return { element: form.form, dirty: () => edited };
}

function sessionsSection(signal) {
  const { element, heading } = card(t('account.sessions.title'));
  const intro = h('p', { class: 'muted' }, t('account.sessions.intro'));
  const list = h('ul', { class: 'sessions', 'aria-busy': 'true' });
  const status = h('p', { class: 'status', role: 'status' });
  let cursor = null;

  const more = actionButton({
    label: t('account.sessions.more'),
    busyLabel: t('account.loading'),
    status,
    onClick: () => loadPage({ reset: false }),
    attrs: { hidden: true },
  });
  const reload = actionButton({
    label: t('account.sessions.refresh'),
    busyLabel: t('account.sessions.refreshing'),
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
      if (!list.children.length) list.append(h('li', { class: 'muted' }, t('account.sessions.none')));
      cursor = page && page.next ? page.next : null;
      more.hidden = !cursor;
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function sessionItem(session) {
    const label = session.device || describeUserAgent(session.user_agent) || t('account.sessions.unknown');
    const item = h('li', { class: session.current ? 'session current' : 'session' });
    const end = actionButton({
      label: t('account.sessions.end'),
      busyLabel: t('account.sessions.ending'),
      className: 'button danger small',
      status,
      attrs: { 'aria-label': t(session.current ? 'account.sessions.end_this' : 'account.sessions.end_on', { device: label }) },
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
        return t('account.sessions.ended', { device: label });
      },
    });
    item.append(
      h('div', { class: 'session-info' },
        h('p', { class: 'session-device' }, h('span', null, label),
          session.current ? h('span', { class: 'badge' }, t('account.sessions.this')) : null),
        h('p', { class: 'session-meta' },
          ...textWith('account.sessions.times', {
            seen: timeElement(session.last_seen_at), created: timeElement(session.created_at),
          })),
        session.ip ? h('p', { class: 'session-meta' }, ...textWith('account.sessions.ip', { ip: h('span', { class: 'mono' }, session.ip) })) : null,
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
    label: t('account.signout.title'),
    busyLabel: t('account.signout.busy'),
    className: 'button',
    status,
    onClick: () => signOut(),
  });
  const { element } = card(t('account.signout.title'),
    h('p', { class: 'muted' }, t('account.signout.intro')),
    h('div', { class: 'actions' }, button),
    status);
  return element;
}
