// Admin console, the report queue: each reported message with who sent and who reported it; dismiss the
// report, delete the message for everyone, or suspend its sender.

import { api } from '../core/api.js';
import { card, errorNotice, h, isAbort, uid } from '../core/dom.js';
import { actionButton } from '../core/forms.js';
import { t } from '../core/i18n.js';
import { ago } from './format.js';

const PAGE = 20;
const ACTIONS = ['dismiss', 'delete_message', 'suspend_sender'];

export function reportsSection(signal) {
  const { element } = card(t('admin.tab.reports'));
  const filterId = uid('admin-report-filter');
  const filter = h('select', { id: filterId, name: 'state' },
    h('option', { value: 'open' }, t('admin.reports.open')),
    h('option', { value: 'all' }, t('admin.reports.all')));
  const list = h('ul', { class: 'admin-list', 'aria-live': 'polite' });
  const status = h('p', { class: 'status', role: 'status' });
  const more = actionButton({
    label: t('admin.more'), busyLabel: t('admin.more_busy'), status, attrs: { hidden: true },
    onClick: () => load(false),
  });
  const names = new Map(); // user id -> display name, looked up once each
  let cursor = null;
  let generation = 0;

  async function load(reset) {
    const mine = ++generation;
    if (reset) cursor = null;
    list.setAttribute('aria-busy', 'true');
    const params = new URLSearchParams({ state: filter.value, limit: String(PAGE) });
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await api.get(`/api/admin/reports?${params}`, { signal });
      const reports = Array.isArray(page.reports) ? page.reports : [];
      await nameUsers(reports);
      if (signal.aborted || mine !== generation) return;
      if (reset) list.replaceChildren();
      list.append(...reports.map((report) => reportItem(report)));
      if (!list.children.length) list.append(h('li', { class: 'muted' }, t('admin.reports.none')));
      cursor = page.next || null;
      more.hidden = !cursor;
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      list.replaceChildren(h('li', null, errorNotice(err)));
    } finally {
      if (mine === generation) list.removeAttribute('aria-busy');
    }
  }

  async function nameUsers(reports) {
    const ids = new Set();
    for (const r of reports) {
      ids.add(r.reporter_id);
      if (r.message && r.message.sender_id) ids.add(r.message.sender_id);
    }
    await Promise.all([...ids].filter((id) => id && !names.has(id)).map(async (id) => {
      try {
        const page = await api.get(`/api/admin/users?q=${encodeURIComponent(id)}&limit=1`, { signal });
        const user = (page.users || [])[0];
        names.set(id, user && user.id === id ? user.display_name || user.email : id);
      } catch {
        names.set(id, id); // the id says who it is, if not as kindly
      }
    }));
  }

  function reportItem(report) {
    const item = h('li', { class: 'admin-item report', 'data-report': report.id });
    const itemStatus = h('p', { class: 'status', role: 'status' });
    const message = report.message;
    const sender = message && message.sender_id ? names.get(message.sender_id) || message.sender_id : null;
    const actions = h('div', {
      class: 'actions', role: 'group', 'aria-label': t('admin.reports.actions', { id: report.message_id }),
    });
    if (report.resolved_at) {
      itemStatus.textContent = t('admin.reports.resolved', { action: t(`admin.reports.action.${report.resolution}`) });
    } else {
      actions.append(...ACTIONS.map((action) => actionButton({
        label: t(`admin.reports.${action}`),
        busyLabel: t('admin.reports.busy'),
        className: action === 'dismiss' ? 'button small' : 'button small danger',
        status: itemStatus,
        onClick: async () => {
          await api.post(`/api/admin/reports/${encodeURIComponent(report.id)}/resolve`, { action });
          actions.remove();
          item.classList.add('resolved');
          return t('admin.reports.resolved', { action: t(`admin.reports.action.${action}`) });
        },
      })));
    }
    item.append(
      h('blockquote', { class: 'report-message' }, messageText(message)),
      sender ? h('p', { class: 'admin-meta' }, t('admin.reports.sent_by', { name: sender, chat: report.chat_id })) : null,
      h('p', { class: 'admin-meta muted' }, t('admin.reports.reported_by', {
        name: names.get(report.reporter_id) || report.reporter_id, time: ago(report.created_at),
      })),
      h('p', { class: 'admin-meta' }, report.reason ? t('admin.reports.reason', { reason: report.reason }) : t('admin.reports.no_reason')),
      actions,
      itemStatus);
    return item;
  }

  filter.addEventListener('change', () => load(true));
  load(true);
  element.append(
    h('div', { class: 'field admin-filter' }, h('label', { for: filterId }, t('admin.reports.filter')), filter),
    list, h('div', { class: 'actions' }, more), status);
  return element;
}

function messageText(message) {
  if (!message) return h('span', { class: 'muted' }, t('admin.reports.gone'));
  if (message.deleted) return h('span', { class: 'muted' }, t('admin.reports.deleted'));
  if ('ciphertext' in message) return h('span', { class: 'muted' }, t('admin.reports.encrypted'));
  if (typeof message.text === 'string' && message.text) return message.text;
  return h('span', { class: 'muted' }, t('admin.reports.no_text'));
}
