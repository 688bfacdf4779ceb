// What the owner can do to a whole channel: import points from a CSV file (ThingSpeak's export format, through
// the bulk update API, all or nothing), clear its feed, and delete it (confirmed by typing its name).

import { api } from '../core/api.js';
import { card, describeError, h, uid } from '../core/dom.js';
import { t, tn } from '../core/i18n.js';
import { channelPath } from './chart-section.js';

const MAX_ROWS = 14400; // the bulk API's limit
const COLUMNS = new Set(['created_at', 'field1', 'field2', 'field3', 'field4', 'field5', 'field6', 'field7', 'field8',
  'latitude', 'longitude', 'elevation', 'status']);

/** Rows of a CSV text (quotes and doubled quotes as RFC 4180 has them). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 1; } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(cell);
      if (row.some((v) => v !== '')) rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  row.push(cell);
  if (row.some((v) => v !== '')) rows.push(row);
  return rows;
}

/** The bulk API's updates from a CSV with a header row (created_at, field1..field8, ...); throws a sentence. */
export function updatesFromCsv(text) {
  const [header, ...rows] = parseCsv(text);
  if (!header) throw new Error(t('iot.import.error.empty'));
  const names = header.map((n) => n.trim().toLowerCase());
  if (!names.includes('created_at')) throw new Error(t('iot.import.error.no_time'));
  if (!rows.length) throw new Error(t('iot.import.error.no_rows'));
  if (rows.length > MAX_ROWS) throw new Error(t('iot.import.error.too_many', { max: MAX_ROWS }));
  return rows.map((cells) => {
    const update = {};
    names.forEach((name, i) => {
      if (COLUMNS.has(name) && cells[i] !== undefined && cells[i] !== '') update[name] = cells[i];
    });
    return update;
  });
}

function importPart(channel, writeKey) {
  const id = uid('import');
  const file = h('input', { id, type: 'file', accept: '.csv,text/csv', 'aria-describedby': `${id}-hint` });
  const status = h('p', { class: 'status', role: 'status' });
  const button = h('button', { type: 'button', class: 'button small' }, t('iot.import.button'));
  button.addEventListener('click', async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) {
      status.textContent = t('iot.import.choose');
      return;
    }
    button.disabled = true;
    status.textContent = t('iot.import.working');
    try {
      const updates = updatesFromCsv(await chosen.text());
      await api.post(`${channelPath(channel.id)}/bulk_update.json`, { write_api_key: writeKey(), updates });
      status.textContent = tn('iot.import.done', updates.length);
    } catch (err) {
      status.textContent = err instanceof Error && !('status' in err) ? err.message : describeError(err);
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'manage-part' },
    h('h3', null, t('iot.import.title')),
    h('div', { class: 'field' }, h('label', { for: id }, t('iot.import.file')),
      h('p', { id: `${id}-hint`, class: 'field-hint' }, t('iot.import.hint')), file),
    h('div', { class: 'actions' }, button), status);
}

function clearPart(channel) {
  const status = h('p', { class: 'status', role: 'status' });
  const button = h('button', { type: 'button', class: 'button danger small' }, t('iot.clear.button'));
  button.addEventListener('click', async () => {
    if (!window.confirm(t('iot.clear.confirm', { name: channel.name }))) return;
    button.disabled = true;
    try {
      await api.delete(`${channelPath(channel.id)}/feeds.json`);
      status.textContent = t('iot.clear.done');
    } catch (err) {
      status.textContent = describeError(err) || '';
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'manage-part' }, h('h3', null, t('iot.clear.title')),
    h('p', { class: 'muted' }, t('iot.clear.about')), h('div', { class: 'actions' }, button), status);
}

function deletePart(channel, navigate) {
  const id = uid('delete');
  const name = channel.name || String(channel.id);
  const confirmInput = h('input', { id, type: 'text', autocomplete: 'off', 'aria-describedby': `${id}-hint` });
  const status = h('p', { class: 'status', role: 'status' });
  const button = h('button', { type: 'button', class: 'button danger small', disabled: true }, t('iot.delete.button'));
  confirmInput.addEventListener('input', () => { button.disabled = confirmInput.value.trim() !== name; });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api.delete(`${channelPath(channel.id)}.json`);
      navigate('/channels');
    } catch (err) {
      status.textContent = describeError(err) || '';
      button.disabled = false;
    }
  });
  return h('div', { class: 'manage-part' }, h('h3', null, t('iot.delete.title')),
    h('div', { class: 'field' }, h('label', { for: id }, t('iot.delete.type_name', { name })),
      h('p', { id: `${id}-hint`, class: 'field-hint' }, t('iot.delete.about')), confirmInput),
    h('div', { class: 'actions' }, button), status);
}

export function manageSection({ channel, writeKey, navigate }) {
  const { element } = card(t('iot.manage.title'));
  element.append(importPart(channel, writeKey), clearPart(channel), deletePart(channel, navigate));
  return element;
}
