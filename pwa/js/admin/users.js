// Admin console, people: find accounts (name, address or id), change their role, suspend or restore them, and
// open their sessions (admin/sessions.js).

import { api, getUser } from '../core/api.js';
import { card, errorNotice, h, isAbort, uid } from '../core/dom.js';
import { actionButton } from '../core/forms.js';
import { formatDateTime, t } from '../core/i18n.js';
import { sessionsPanel } from './sessions.js';

const PAGE = 20;

export function usersSection(signal) {
  const { element } = card(t('admin.users.search'));
  const inputId = uid('admin-search');
  const input = h('input', { id: inputId, type: 'search', name: 'q', maxlength: 254, autocomplete: 'off', spellcheck: 'false' });
  const clear = h('button', { type: 'button', class: 'button', hidden: true }, t('admin.users.clear'));
  const form = h('form', { class: 'admin-search', role: 'search' },
    h('label', { for: inputId }, t('admin.users.search_label')),
    h('div', { class: 'admin-search-row' }, input,
      h('button', { type: 'submit', class: 'button' }, t('admin.users.search_button')), clear));
  const list = h('ul', { class: 'admin-list', 'aria-live': 'polite' });
  const status = h('p', { class: 'status', role: 'status' });
  const more = actionButton({
    label: t('admin.more'), busyLabel: t('admin.more_busy'), status, attrs: { hidden: true },
    onClick: () => load(false),
  });
  let query = '';
  let cursor = null;
  let generation = 0;

  async function load(reset) {
    const mine = ++generation; // a newer search wins over an older one still on its way
    if (reset) cursor = null;
    list.setAttribute('aria-busy', 'true');
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (query) params.set('q', query);
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await api.get(`/api/admin/users?${params}`, { signal });
      if (signal.aborted || mine !== generation) return;
      const users = Array.isArray(page.users) ? page.users : [];
      if (reset) list.replaceChildren();
      list.append(...users.map((user) => userItem(user)));
      cursor = page.next || null;
      more.hidden = !cursor;
      if (!list.children.length) {
        status.textContent = cursor ? t('admin.users.searching') : t('admin.users.none');
      }
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      list.replaceChildren(h('li', null, errorNotice(err)));
    } finally {
      if (mine === generation) list.removeAttribute('aria-busy');
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    query = input.value.trim();
    clear.hidden = !query;
    status.textContent = '';
    load(true);
  });
  clear.addEventListener('click', () => {
    input.value = '';
    query = '';
    clear.hidden = true;
    status.textContent = '';
    load(true);
    input.focus();
  });
  load(true);
  element.append(form, list, h('div', { class: 'actions' }, more), status);
  return element;
}

function userItem(initial) {
  let user = initial;
  const item = h('li', { class: 'admin-item', 'data-user': user.id });
  const status = h('p', { class: 'status', role: 'status' });
  const sessionsArea = h('div', { class: 'admin-sessions' });
  const self = getUser();
  const isSelf = Boolean(self && self.id === user.id);

  function render() {
    const name = user.display_name || user.email;
    const badges = [
      isSelf ? h('span', { class: 'badge' }, t('admin.users.you')) : null,
      user.role === 'admin' ? h('span', { class: 'badge' }, t('admin.users.role.admin')) : null,
      user.suspended ? h('span', { class: 'badge warning' }, t('admin.users.suspended')) : null,
      user.email_verified ? null : h('span', { class: 'badge warning' }, t('admin.users.unverified')),
    ];
    const actions = h('div', { class: 'actions', role: 'group', 'aria-label': t('admin.users.actions', { name }) });
    if (!isSelf) actions.append(roleButton(), suspendButton());
    actions.append(sessionsButton(name));
    item.replaceChildren(
      h('div', { class: 'admin-item-head' },
        h('p', { class: 'admin-item-title' }, h('span', { class: 'admin-name' }, name), ' ', badges)),
      h('p', { class: 'admin-meta' }, h('span', null, user.email), ' · ',
        h('span', { class: 'mono' }, user.id)),
      h('p', { class: 'admin-meta muted' },
        t('admin.users.joined', { date: formatDateTime(user.created_at, 'date') })),
      actions, status, sessionsArea);
  }

  function change(path, done) {
    return async () => {
      user = await api.post(`/api/admin/users/${encodeURIComponent(user.id)}/${path}`, path === 'role'
        ? { role: user.role === 'admin' ? 'user' : 'admin' } : {});
      const name = user.display_name || user.email;
      render();
      const message = done(name);
      status.textContent = message; // render() replaced the old one
      item.querySelector('.admin-name').focus?.();
      return message;
    };
  }

  function roleButton() {
    const toAdmin = user.role !== 'admin';
    return actionButton({
      label: t(toAdmin ? 'admin.users.make_admin' : 'admin.users.make_user'),
      busyLabel: t('admin.users.role_busy'),
      className: 'button small',
      status,
      onClick: change('role', (name) => t(toAdmin ? 'admin.users.role_done_admin' : 'admin.users.role_done_user', { name })),
    });
  }

  function suspendButton() {
    const suspend = !user.suspended;
    return actionButton({
      label: t(suspend ? 'admin.users.suspend' : 'admin.users.unsuspend'),
      busyLabel: t(suspend ? 'admin.users.suspend_busy' : 'admin.users.unsuspend_busy'),
      className: suspend ? 'button small danger' : 'button small',
      status,
      onClick: change(suspend ? 'suspend' : 'unsuspend',
        (name) => t(suspend ? 'admin.users.suspended_done' : 'admin.users.unsuspended_done', { name })),
    });
  }

  function sessionsButton(name) {
    const open = sessionsArea.childElementCount > 0;
    const button = h('button', {
      type: 'button', class: 'button small', 'aria-expanded': String(open),
    }, t(open ? 'admin.users.hide_sessions' : 'admin.users.sessions'));
    button.addEventListener('click', () => {
      const opening = sessionsArea.childElementCount === 0;
      sessionsArea.replaceChildren(...(opening ? [sessionsPanel(user.id, name, isSelf)] : []));
      button.setAttribute('aria-expanded', String(opening));
      button.textContent = t(opening ? 'admin.users.hide_sessions' : 'admin.users.sessions');
    });
    return button;
  }

  render();
  return item;
}
