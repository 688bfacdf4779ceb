// Admin console: one account's live sessions, each with End, and End all (an admin's own session stays).

import { ApiError, api } from '../core/api.js';
import { describeUserAgent, errorNotice, h } from '../core/dom.js';
import { actionButton } from '../core/forms.js';
import { t } from '../core/i18n.js';
import { ago } from './format.js';

export function sessionsPanel(userId, name, isSelf) {
  const base = `/api/admin/users/${encodeURIComponent(userId)}/sessions`;
  const controller = new AbortController();
  const list = h('ul', { class: 'sessions', 'aria-busy': 'true' });
  const status = h('p', { class: 'status', role: 'status' });
  const heading = h('h3', { tabindex: '-1' }, t('admin.sessions.title', { name }));
  const endAll = actionButton({
    label: t('admin.sessions.end_all'),
    busyLabel: t('admin.sessions.end_all_busy'),
    className: 'button small danger',
    status,
    onClick: async () => {
      await api.delete(base);
      await load();
      heading.focus();
      return t('admin.sessions.ended_all', { name });
    },
  });
  const panel = h('section', { class: 'admin-session-panel' }, heading, list, h('div', { class: 'actions' }, endAll), status);

  async function load() {
    list.setAttribute('aria-busy', 'true');
    try {
      const page = await api.get(`${base}?limit=200`, { signal: controller.signal });
      const sessions = Array.isArray(page.sessions) ? page.sessions : [];
      list.replaceChildren(...(sessions.length
        ? sessions.map(sessionItem)
        : [h('li', { class: 'muted' }, t('admin.sessions.none'))]));
      // Only the admin's own current session would be left: nothing for End all to do.
      endAll.hidden = sessions.every((s) => s.current);
    } catch (err) {
      if (!panel.isConnected && err.name === 'AbortError') return;
      list.replaceChildren(h('li', null, errorNotice(err)));
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function sessionItem(session) {
    const device = session.device || describeUserAgent(session.user_agent) || t('admin.sessions.unknown_device');
    const item = h('li', { class: 'session' });
    const end = session.current && isSelf ? null : actionButton({
      label: t('admin.sessions.end'),
      busyLabel: t('admin.sessions.end_busy'),
      className: 'button small danger',
      status,
      attrs: { 'aria-label': t('admin.sessions.end_label', { device }) },
      onClick: async () => {
        try {
          await api.delete(`${base}/${encodeURIComponent(session.id)}`);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) throw err; // 404: it had ended already
        }
        item.remove();
        if (!list.children.length) list.append(h('li', { class: 'muted' }, t('admin.sessions.none')));
        heading.focus();
        return t('admin.sessions.ended', { device });
      },
    });
    item.append(
      h('div', { class: 'session-info' },
        h('p', { class: 'session-device' }, h('span', null, device),
          session.current ? h('span', { class: 'badge' }, t('admin.sessions.yours')) : null),
        h('p', { class: 'session-meta' }, t('admin.sessions.meta', {
          seen: ago(session.last_seen_at), created: ago(session.created_at),
        })),
        session.ip ? h('p', { class: 'session-meta' }, t('admin.sessions.ip', { ip: session.ip })) : null),
      end ? h('div', { class: 'session-actions' }, end) : null);
    return item;
  }

  load();
  return panel;
}
