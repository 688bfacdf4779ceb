// One channel of the IoT dashboard: its live charts, its write key with an example request, its read keys
// and its settings.

import { api, ApiError } from '../core/api.js';
import { card, errorNotice, h, isAbort, plural, uid, wideScreen } from '../core/dom.js';
import { actionButton, check, createForm, field, problems } from '../core/forms.js';
import { FIELD_NUMBERS, namedFields } from './channel-fields.js';
import { EntryStore, fieldChart, loadUPlot } from './chart.js';
import { followChannel } from './live.js';

const HISTORY_POINTS = 500;

function channelPath(id) {
  return `/channels/${encodeURIComponent(id)}`;
}

function keysOf(channel) {
  const keys = Array.isArray(channel.api_keys) ? channel.api_keys : [];
  return {
    write: keys.find((k) => k.write_flag) || null,
    read: keys.filter((k) => !k.write_flag),
  };
}

// -- copying ---------------------------------------------------------------------------------------

async function copyText(text, source) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to selecting the text
  }
  if (source && typeof source.select === 'function') {
    source.focus();
    source.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
  return false;
}

/** A read-only value (key, command) with a Copy button; `set(value)` changes it. */
function copyable({ label, value, multiline = false, hint = null }) {
  const id = uid('copy');
  const hintId = hint ? `${id}-hint` : null;
  const input = multiline
    ? h('textarea', { id, class: 'mono copy-value', readonly: true, rows: 3, spellcheck: 'false', 'aria-describedby': hintId })
    : h('input', { id, type: 'text', class: 'mono copy-value', readonly: true, spellcheck: 'false', 'aria-describedby': hintId });
  input.value = value;
  const status = h('span', { class: 'copy-status muted', role: 'status' });
  const button = h('button', { type: 'button', class: 'button small', 'aria-label': `Copy ${label.toLowerCase()}` }, 'Copy');
  let clearTimer = 0;
  button.addEventListener('click', async () => {
    const ok = await copyText(input.value, input);
    status.textContent = ok ? 'Copied.' : 'Select the text and copy it.';
    clearTimeout(clearTimer);
    clearTimer = setTimeout(() => { status.textContent = ''; }, 3000);
  });
  const wrap = h('div', { class: 'field copy-field' },
    h('label', { for: id }, label),
    hint ? h('p', { id: hintId, class: 'field-hint' }, hint) : null,
    h('div', { class: 'copy-row' }, input, button),
    status);
  return {
    element: wrap,
    set(next) {
      input.value = next;
    },
  };
}

// -- the screen ------------------------------------------------------------------------------------

export function channelView({ params, signal }) {
  const id = params.get('id') || '';
  const section = wideScreen('Channel');
  const title = section.querySelector('h1');
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading the channel…'));
  section.append(h('p', { class: 'links' }, h('a', { href: '#/channels' }, '← All channels')), body);

  if (!/^\d{1,18}$/.test(id)) {
    body.replaceChildren(h('p', { class: 'notice error' }, 'There is no such channel.'));
    body.removeAttribute('aria-busy');
    return section;
  }

  api.get(`${channelPath(id)}.json`, { signal }).then((channel) => {
    if (signal.aborted) return;
    title.textContent = channel.name || `Channel ${channel.id}`;
    document.title = `${title.textContent} · Realtime`;
    body.removeAttribute('aria-busy');
    body.replaceChildren(...channelScreen(channel, signal, (name) => {
      title.textContent = name;
      document.title = `${name} · Realtime`;
    }));
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    body.removeAttribute('aria-busy');
    body.replaceChildren(err instanceof ApiError && err.status === 404
      ? h('p', { class: 'notice error' }, 'There is no such channel, or it is not yours.')
      : errorNotice(err));
  });
  return section;
}

function channelScreen(initial, signal, onRename) {
  let channel = initial;
  const keys = keysOf(channel);
  const readKey = () => (keys.read[0] ? keys.read[0].api_key : null);
  const live = liveSection(channel, readKey, signal);
  const write = writeSection(channel, keys);
  const settings = settingsSection(channel, (updated) => {
    channel = { ...updated, api_keys: channel.api_keys };
    onRename(channel.name || `Channel ${channel.id}`);
    live.fieldsChanged(channel);
    write.fieldsChanged(channel);
  });
  return [live.element, write.element, readKeysSection(keys.read), settings];
}

function liveSection(initialChannel, readKey, signal) {
  let channel = initialChannel;
  const { element } = card('Live data');
  const statusDot = h('span', { class: 'live-dot', 'aria-hidden': 'true' });
  const statusText = h('span', null, 'Loading…');
  const status = h('p', { class: 'live-status', role: 'status', 'aria-live': 'polite', 'data-state': 'connecting' },
    statusDot, statusText);
  const key = readKey();
  const exportLink = key
    ? h('a', {
      class: 'button small',
      href: `${channelPath(channel.id)}/feeds.csv?api_key=${encodeURIComponent(key)}&results=8000`,
      download: `channel-${channel.id}.csv`,
    }, 'Export CSV')
    : null;
  const charts = h('div', { class: 'charts' });
  const notice = h('div');
  element.append(h('div', { class: 'live-head' }, status, exportLink), notice, charts);

  const store = new EntryStore();
  let plots = [];
  let uPlot = null;

  function setStatus(state, detail) {
    status.dataset.state = state;
    if (state === 'live') statusText.textContent = 'Live: new points appear as they arrive.';
    else if (state === 'connecting') statusText.textContent = 'Connecting…';
    else if (state === 'reconnecting') statusText.textContent = detail ? `Reconnecting in ${plural(detail, 'second', 'seconds')}…` : 'Reconnecting…';
    else if (state === 'offline') statusText.textContent = 'Offline: waiting for the connection to come back.';
    else if (state === 'failed') statusText.textContent = detail || 'Live updates stopped.';
    else statusText.textContent = detail || '';
  }

  function buildCharts() {
    for (const plot of plots) plot.destroy();
    plots = [];
    const named = namedFields(channel);
    if (!named.length) {
      charts.replaceChildren(h('p', { class: 'muted' }, 'Name a field in the settings below to chart it.'));
      return;
    }
    if (!uPlot) return;
    plots = named.map(([n, label]) => fieldChart({ uPlot, store, n, label }));
    charts.replaceChildren(...plots.map((p) => p.element));
    for (const plot of plots) plot.update();
  }

  async function start() {
    setStatus('connecting');
    try {
      const query = new URLSearchParams({ results: String(HISTORY_POINTS) });
      if (key) query.set('api_key', key);
      const [feed, loaded] = await Promise.all([
        api.get(`${channelPath(channel.id)}/feeds.json?${query}`, { signal }),
        loadUPlot(),
      ]);
      if (signal.aborted) return;
      uPlot = loaded;
      store.add(Array.isArray(feed && feed.feeds) ? feed.feeds : []);
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      setStatus('failed', 'Live updates are off.');
      notice.replaceChildren(err instanceof ApiError ? errorNotice(err)
        : h('p', { class: 'notice error', role: 'alert' }, 'The chart library could not be loaded. Please reload the page.'));
      return;
    }
    buildCharts();
    followChannel({
      channelId: channel.id,
      lastEntryId: () => store.lastEntryId,
      onEntries: (entries) => {
        if (store.add(entries)) for (const plot of plots) plot.update();
      },
      onStatus: setStatus,
      signal,
    });
  }

  signal.addEventListener('abort', () => {
    for (const plot of plots) plot.destroy();
    plots = [];
  }, { once: true });
  start();

  return {
    element,
    fieldsChanged(updated) {
      const before = namedFields(channel).join('|');
      channel = updated;
      if (namedFields(channel).join('|') !== before) buildCharts();
    },
  };
}

function curlLine(channel, writeKey) {
  const named = namedFields(channel);
  const numbers = named.length ? named.map(([n]) => n) : [1];
  const query = [`api_key=${encodeURIComponent(writeKey || 'WRITE_KEY')}`]
    .concat(numbers.map((n, i) => `field${n}=${(20 + i * 1.5).toFixed(1)}`));
  return `curl "${location.origin}/update?${query.join('&')}"`;
}

function writeSection(initialChannel, keys) {
  let channel = initialChannel;
  let writeKey = keys.write ? keys.write.api_key : '';
  const { element } = card('Write data');
  const key = copyable({
    label: 'Write API key', value: writeKey,
    hint: 'Devices send points with this key. Anyone who has it can write to this channel.',
  });
  const example = copyable({
    label: 'Example: write a point', value: curlLine(channel, writeKey), multiline: true,
    hint: 'Run it in a terminal, or send the same request from your device.',
  });
  const status = h('p', { class: 'status', role: 'status' });
  const regenerate = actionButton({
    label: 'Regenerate write key',
    busyLabel: 'Regenerating…',
    className: 'button danger small',
    status,
    onClick: async () => {
      if (!window.confirm('Make a new write key? Devices using the old key can no longer write.')) return undefined;
      const answer = await api.post(`${channelPath(channel.id)}/api_keys/write.json`, {});
      writeKey = answer.api_key;
      key.set(writeKey);
      example.set(curlLine(channel, writeKey));
      return 'New write key made. Update your devices.';
    },
  });
  element.append(key.element, h('div', { class: 'actions' }, regenerate), status, example.element);
  return {
    element,
    fieldsChanged(updated) {
      channel = updated;
      example.set(curlLine(channel, writeKey));
    },
  };
}

function readKeysSection(readKeys) {
  const { element } = card('Read API keys');
  element.append(h('p', { class: 'muted' },
    'Apps and dashboards read this channel’s data with a read key while it is private.'));
  if (!readKeys.length) element.append(h('p', { class: 'muted' }, 'This channel has no read keys.'));
  readKeys.forEach((k, i) => {
    const label = readKeys.length > 1 ? `Read API key ${i + 1}` : 'Read API key';
    element.append(copyable({ label, value: k.api_key, hint: k.note || null }).element);
  });
  return element;
}

function settingsSection(initial, onSaved) {
  let channel = initial;
  const { element } = card('Settings');
  const name = field({ name: 'name', label: 'Name', required: true, maxlength: 255, value: channel.name || '', autocomplete: 'off' });
  const description = field({
    name: 'description', label: 'Description', maxlength: 2000, value: channel.description || '', autocomplete: 'off',
  });
  const fieldInputs = FIELD_NUMBERS.map((n) => field({
    name: `field${n}`, label: `Field ${n}`, maxlength: 255, value: channel[`field${n}`] || '', autocomplete: 'off',
  }));
  const publicId = uid('public');
  const publicBox = h('input', { id: publicId, type: 'checkbox', name: 'public_flag', 'aria-describedby': `${publicId}-hint` });
  publicBox.checked = Boolean(channel.public_flag);
  const publicField = h('div', { class: 'field checkbox-field' },
    h('div', { class: 'checkbox-row' }, publicBox, h('label', { for: publicId }, 'Public channel')),
    h('p', { id: `${publicId}-hint`, class: 'field-hint' }, 'Anyone can read a public channel’s data without a key.'));
  const status = h('p', { class: 'status', role: 'status' });
  const fieldGrid = h('div', { class: 'field-grid' });
  const fieldGroup = h('fieldset', { class: 'field-names' },
    h('legend', null, 'Field names'),
    h('p', { class: 'field-hint' }, 'Each named field gets a chart. Leave a field empty to stop using it.'),
    fieldGrid);

  const form = createForm({
    fields: [name, description, ...fieldInputs],
    submitLabel: 'Save settings',
    busyLabel: 'Saving…',
    after: [status],
    validate: (v) => problems({ name: check.required(v.name, 'The channel needs a name.') }),
    onSubmit: async (v) => {
      status.textContent = '';
      const body = { name: v.name, description: v.description, public_flag: publicBox.checked };
      for (const n of FIELD_NUMBERS) body[`field${n}`] = v[`field${n}`];
      channel = await api.put(`${channelPath(channel.id)}.json`, body);
      status.textContent = 'Saved.';
      onSaved(channel);
    },
  });
  // Field names sit in their own fieldset, the public flag after them, all before the submit button.
  const actions = form.button.parentElement;
  fieldGrid.append(...fieldInputs.map((f) => f.wrap));
  form.form.insertBefore(fieldGroup, actions);
  form.form.insertBefore(publicField, actions);
  form.form.addEventListener('input', () => { status.textContent = ''; });
  element.append(form.form);
  return element;
}
