// The IoT dashboard's list of channels: the user's channels, and a form to create one.

import { api } from '../core/api.js';
import { card, errorNotice, h, isAbort, plural, wideScreen } from '../core/dom.js';
import { check, createForm, field, problems } from '../core/forms.js';
import { namedFields } from './channel-fields.js';

export function channelsView({ signal, navigate }) {
  return wideScreen('Channels',
    h('p', { class: 'links' }, h('a', { href: '#/' }, '← Your account'), ' · ', h('a', { href: '#/mqtt-devices' }, 'MQTT devices')),
    h('p', { class: 'muted' },
      'A channel stores the points your devices send: up to eight fields each, written with the channel’s write key.'),
    channelList(signal),
    createSection(navigate));
}

function channelList(signal) {
  const { element } = card('My channels');
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading your channels…'));
  element.append(body);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const channels = await api.get('/channels.json', { signal });
      if (signal.aborted) return;
      const list = Array.isArray(channels) ? channels : [];
      if (!list.length) {
        body.replaceChildren(h('p', { class: 'muted' }, 'You have no channels yet. Create one below.'));
        return;
      }
      body.replaceChildren(h('ul', { class: 'channel-list' }, list.map(channelItem)));
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      const retry = h('button', { type: 'button', class: 'button', onclick: load }, 'Try again');
      body.replaceChildren(errorNotice(err), retry);
    } finally {
      body.removeAttribute('aria-busy');
    }
  }
  load();
  return element;
}

function channelItem(channel) {
  const fields = namedFields(channel).map(([, name]) => name);
  const entries = channel.last_entry_id ? plural(channel.last_entry_id, 'entry', 'entries') : 'no entries yet';
  return h('li', { class: 'channel-item' },
    h('div', { class: 'channel-item-head' },
      h('a', { href: `#/channel?id=${encodeURIComponent(channel.id)}`, class: 'channel-name' }, channel.name || `Channel ${channel.id}`),
      h('span', { class: channel.public_flag ? 'badge success' : 'badge' }, channel.public_flag ? 'Public' : 'Private')),
    channel.description ? h('p', { class: 'channel-description' }, channel.description) : null,
    h('p', { class: 'channel-meta muted' },
      `#${channel.id} · ${entries}`, fields.length ? ` · ${fields.join(', ')}` : ''));
}

/** "Temperature, Humidity" → ['Temperature', 'Humidity'] (field1, field2). */
function parseFieldNames(text) {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

function createSection(navigate) {
  const name = field({ name: 'name', label: 'Name', required: true, maxlength: 255, autocomplete: 'off' });
  const fields = field({
    name: 'fields', label: 'Field names', autocomplete: 'off', maxlength: 2000,
    hint: 'Up to eight, separated by commas: for example “Temperature, Humidity”.',
  });
  const form = createForm({
    fields: [name, fields],
    submitLabel: 'Create channel',
    busyLabel: 'Creating…',
    validate: (v) => {
      const names = parseFieldNames(v.fields);
      return problems({
        name: check.required(v.name, 'Give the channel a name.'),
        fields: names.length > 8 ? `A channel has at most eight fields (${names.length} given).`
          : names.some((n) => n.length > 255) ? 'Keep each field name under 255 characters.' : null,
      });
    },
    onSubmit: async (v) => {
      const body = { name: v.name };
      parseFieldNames(v.fields).forEach((fieldName, i) => { body[`field${i + 1}`] = fieldName; });
      const channel = await api.post('/channels.json', body);
      navigate(`/channel?id=${encodeURIComponent(channel.id)}`);
    },
  });
  return card('New channel', form.form).element;
}
