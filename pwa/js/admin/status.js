// Admin console, status: the server's live figures (GET /api/admin/status), read again every few seconds
// while the screen is open and the page is visible.

import { api } from '../core/api.js';
import { card, describeError, h } from '../core/dom.js';
import { formatDateTime, formatNumber, t } from '../core/i18n.js';
import { bytes, duration } from './format.js';

export const REFRESH_SECONDS = 3;

export function statusSection(signal) {
  const { element } = card(t('admin.tab.status'));
  const figures = h('dl', { class: 'status-figures', 'aria-busy': 'true' });
  const writers = h('div', { class: 'status-writers' });
  const updated = h('p', { class: 'muted status-updated' });
  const problem = h('p', { class: 'notice error', role: 'alert', hidden: true });
  let timer = null;

  async function refresh() {
    timer = null;
    try {
      const status = await api.get('/api/admin/status', { signal });
      if (signal.aborted) return;
      render(status);
      problem.hidden = true;
    } catch (err) {
      if (signal.aborted) return;
      const message = describeError(err);
      if (message) {
        problem.textContent = t('admin.status.stale', { problem: message });
        problem.hidden = false;
      }
    } finally {
      figures.removeAttribute('aria-busy');
      schedule();
    }
  }

  function schedule() {
    if (signal.aborted || timer !== null || document.hidden) return;
    timer = setTimeout(refresh, REFRESH_SECONDS * 1000);
  }

  function render(status) {
    const db = status.database || {};
    const size = typeof db.size_bytes === 'number' ? bytes(db.size_bytes) : t('admin.unknown');
    figures.replaceChildren(
      figure('websockets', t('admin.status.websockets'), formatNumber(status.websockets)),
      figure('writes', t('admin.status.writes'), formatNumber(status.writes_per_second, { maximumFractionDigits: 1 }),
        t('admin.status.writes_window', { seconds: formatNumber(Math.round(status.writes_window_seconds)) })),
      figure('database', t('admin.status.database'), size, t(`admin.status.backend.${db.backend}`)),
      figure('version', t('admin.status.version'), status.version,
        status.revision ? h('span', { class: 'mono' }, status.revision) : null),
      figure('uptime', t('admin.status.uptime'), duration(status.uptime_seconds),
        t('admin.status.started', { date: formatDateTime(status.started_at) })));
    writers.replaceChildren(writerTable(status.writers || []));
    updated.textContent = t('admin.status.updated', { time: formatDateTime(status.now, 'time') });
    updated.dataset.now = String(status.now);
  }

  const onVisible = () => {
    if (!document.hidden && timer === null) refresh();
  };
  document.addEventListener('visibilitychange', onVisible);
  signal.addEventListener('abort', () => {
    document.removeEventListener('visibilitychange', onVisible);
    if (timer !== null) clearTimeout(timer);
  });
  refresh();

  element.append(
    h('p', { class: 'muted' }, t('admin.status.live', { seconds: REFRESH_SECONDS })),
    problem, figures, h('h3', null, t('admin.status.writers')), writers, updated);
  return element;
}

function figure(name, label, value, detail = null) {
  return h('div', { class: 'status-figure', 'data-figure': name },
    h('dt', null, label),
    h('dd', null, h('span', { class: 'status-value' }, value), detail ? h('span', { class: 'status-detail' }, detail) : null));
}

function writerTable(writers) {
  if (!writers.length) return h('p', { class: 'muted' }, t('admin.status.no_writers'));
  const columns = [
    ['name', 'admin.status.writer', (w) => w.name],
    ['queued', 'admin.status.queued', (w) => formatNumber(w.queued)],
    ['batches', 'admin.status.batches', (w) => formatNumber(w.batches)],
    ['rows', 'admin.status.rows', (w) => formatNumber(w.rows)],
    ['failed', 'admin.status.failed', (w) => formatNumber(w.failed_rows)],
    ['last_batch', 'admin.status.last_batch', (w) => formatNumber(w.last_batch_rows)],
    ['last_commit', 'admin.status.last_commit',
      (w) => t('admin.status.ms', { value: formatNumber(w.last_commit_ms, { maximumFractionDigits: 2 }) })],
  ];
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('admin.status.writers') },
    h('table', { class: 'status-table' },
      h('thead', null, h('tr', null, columns.map(([, key]) => h('th', { scope: 'col' }, t(key))))),
      h('tbody', null, writers.map((w) => h('tr', { 'data-writer': w.name },
        columns.map(([name, , cell], i) => (i === 0
          ? h('th', { scope: 'row' }, cell(w))
          : h('td', { 'data-column': name }, cell(w)))))))));
}
