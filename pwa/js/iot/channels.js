// The IoT dashboard's list of channels: each of the user's channels with its latest values and a sparkline of
// its first field, and a form to create one.

import { api } from '../core/api.js';
import { card, errorNotice, h, isAbort, wideScreen } from '../core/dom.js';
import { check, createForm, field, problems } from '../core/forms.js';
import { formatDateTime, formatNumber, t, tn } from '../core/i18n.js';
import { namedFields } from './channel-fields.js';
import { EntryStore } from './chart.js';

const SPARK_POINTS = 40;
const AT_ONCE = 4; // channels whose recent points are fetched at the same time

export function channelsView({ signal, navigate }) {
  return wideScreen(t('iot.channels.title'),
    h('p', { class: 'links' }, h('a', { href: '#/' }, t('iot.channels.account')), ' · ',
      h('a', { href: '#/mqtt-devices' }, t('iot.devices.title'))),
    h('p', { class: 'muted' }, t('iot.channels.about')),
    channelList(signal),
    createSection(navigate));
}

function channelList(signal) {
  const { element } = card(t('iot.channels.mine'));
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('iot.channels.loading')));
  element.append(body);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const channels = await api.get('/channels.json', { signal });
      if (signal.aborted) return;
      const list = Array.isArray(channels) ? channels : [];
      if (!list.length) {
        body.replaceChildren(h('p', { class: 'muted' }, t('iot.channels.none')));
        return;
      }
      const items = list.map((channel) => channelItem(channel));
      body.replaceChildren(h('ul', { class: 'channel-list' }, items.map((i) => i.element)));
      fillInTurn(items, signal);
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      const retry = h('button', { type: 'button', class: 'button', onclick: load }, t('iot.try_again'));
      body.replaceChildren(errorNotice(err), retry);
    } finally {
      body.removeAttribute('aria-busy');
    }
  }
  load();
  return element;
}

/** Load each channel's recent points, a few channels at a time. */
async function fillInTurn(items, signal) {
  const queue = items.slice();
  const worker = async () => {
    while (queue.length && !signal.aborted) {
      const item = queue.shift();
      try {
        await item.fill(signal);
      } catch (err) {
        if (isAbort(err) || signal.aborted) return;
        item.failed();
      }
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
}

/** An SVG line of `values` (nulls are gaps) labelled for screen readers by `label`. */
export function sparkline(values, label) {
  const svgNs = 'http://www.w3.org/2000/svg';
  const picture = document.createElementNS(svgNs, 'svg');
  picture.setAttribute('viewBox', '0 0 120 32');
  picture.setAttribute('class', 'sparkline');
  picture.setAttribute('role', 'img');
  picture.setAttribute('aria-label', label);
  const numbers = values.filter((v) => v !== null);
  if (numbers.length < 2) return picture;
  const low = Math.min(...numbers);
  const high = Math.max(...numbers);
  const range = high - low || 1;
  let path = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    const x = (i / (values.length - 1)) * 118 + 1;
    const y = 31 - ((v - low) / range) * 30;
    path += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)} `;
    pen = true;
  });
  const line = document.createElementNS(svgNs, 'path');
  line.setAttribute('d', path.trim());
  line.setAttribute('fill', 'none');
  picture.append(line);
  return picture;
}

function channelItem(channel) {
  const named = namedFields(channel);
  const entries = channel.last_entry_id ? tn('iot.channels.entries', channel.last_entry_id) : t('iot.channels.no_entries');
  const name = channel.name || t('iot.channel.numbered', { id: channel.id });
  const values = h('dl', { class: 'latest-values' });
  const spark = h('div', { class: 'spark' });
  const when = h('p', { class: 'channel-meta muted' });
  const element = h('li', { class: 'channel-item', 'data-channel': String(channel.id) },
    h('div', { class: 'channel-item-head' },
      h('a', { href: `#/channel?id=${encodeURIComponent(channel.id)}`, class: 'channel-name' }, name),
      h('span', { class: channel.public_flag ? 'badge success' : 'badge' }, channel.public_flag ? t('iot.channels.public') : t('iot.channels.private'))),
    channel.description ? h('p', { class: 'channel-description' }, channel.description) : null,
    h('div', { class: 'channel-latest' }, values, spark),
    h('p', { class: 'channel-meta muted' }, `#${channel.id} · ${entries}`),
    when);

  return {
    element,
    async fill(signal) {
      if (!channel.last_entry_id || !named.length) return;
      const answer = await api.get(`/channels/${encodeURIComponent(channel.id)}/feeds.json?results=${SPARK_POINTS}`, { signal });
      const store = new EntryStore(SPARK_POINTS);
      store.add(Array.isArray(answer && answer.feeds) ? answer.feeds : []);
      values.replaceChildren(...named.flatMap(([n, label]) => {
        const last = store.latest(n);
        return [h('dt', null, label), h('dd', null, last ? formatNumber(last.value, { maximumFractionDigits: 3 }) : '–')];
      }));
      const [n, label] = named[0];
      spark.replaceChildren(sparkline(store.fields[n - 1], t('iot.channels.sparkline', { field: label, count: store.size })));
      if (store.size) when.textContent = t('iot.channels.updated', { time: formatDateTime(store.times[store.size - 1]) });
    },
    failed() {
      when.textContent = t('iot.channels.values_failed');
    },
  };
}

/** "Temperature, Humidity" → ['Temperature', 'Humidity'] (field1, field2). */
function parseFieldNames(text) {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

function createSection(navigate) {
  const name = field({ name: 'name', label: t('iot.settings.name'), required: true, maxlength: 255, autocomplete: 'off' });
  const fields = field({
    name: 'fields', label: t('iot.settings.field_names'), autocomplete: 'off', maxlength: 2000, hint: t('iot.channels.fields_hint'),
  });
  const form = createForm({
    fields: [name, fields],
    submitLabel: t('iot.channels.create'),
    busyLabel: t('iot.channels.creating'),
    validate: (v) => {
      const names = parseFieldNames(v.fields);
      return problems({
        name: check.required(v.name, t('iot.channels.name_required')),
        fields: names.length > 8 ? t('iot.channels.too_many_fields', { count: names.length })
          : names.some((n) => n.length > 255) ? t('iot.channels.field_too_long') : null,
      });
    },
    onSubmit: async (v) => {
      const body = { name: v.name };
      parseFieldNames(v.fields).forEach((fieldName, i) => { body[`field${i + 1}`] = fieldName; });
      const channel = await api.post('/channels.json', body);
      navigate(`/channel?id=${encodeURIComponent(channel.id)}`);
    },
  });
  return card(t('iot.channels.new'), form.form).element;
}
