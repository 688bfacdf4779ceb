// MQTT devices: credentials a device logs in to the broker with, each allowed to publish to and subscribe to
// channels of yours. The password is shown once, right after the device is made.

import { api } from '../core/api.js';
import { card, errorNotice, h, isAbort, wideScreen } from '../core/dom.js';
import { check, createForm, field, problems } from '../core/forms.js';

export function devicesView({ signal }) {
  const shown = h('div', { 'aria-live': 'polite' });
  const list = deviceList(signal);
  return wideScreen('MQTT devices',
    h('p', { class: 'links' }, h('a', { href: '#/channels' }, '← Channels')),
    h('p', { class: 'muted' },
      'A device connects to the MQTT broker with its client id, user name and password, then publishes to ',
      h('code', null, 'channels/ID/publish'), ' and subscribes to ', h('code', null, 'channels/ID/subscribe'),
      ' on the channels you allow, with no key.'),
    shown,
    list.element,
    createSection(signal, shown, list.load));
}

function deviceList(signal) {
  const { element } = card('My devices');
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  element.append(body);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const page = await api.get('/api/mqtt/devices?limit=200', { signal });
      if (signal.aborted) return;
      const devices = page.devices || [];
      body.replaceChildren(devices.length
        ? h('ul', { class: 'channel-list' }, devices.map((d) => deviceItem(d, load)))
        : h('p', { class: 'muted' }, 'No devices yet. Add one below.'));
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      body.replaceChildren(errorNotice(err), h('button', { type: 'button', class: 'button', onclick: load }, 'Try again'));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }
  load();
  return { element, load };
}

function rights(grant) {
  return [grant.publish ? 'publish' : null, grant.subscribe ? 'subscribe' : null].filter(Boolean).join(' + ');
}

function deviceItem(device, reload) {
  const remove = h('button', { type: 'button', class: 'button' }, 'Delete');
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Delete ${device.name}? It is disconnected at once.`)) return;
    remove.disabled = true;
    try {
      await api.delete(`/api/mqtt/devices/${encodeURIComponent(device.id)}`);
      reload();
    } catch (err) {
      remove.disabled = false;
      remove.after(errorNotice(err));
    }
  });
  return h('li', { class: 'channel-item' },
    h('div', { class: 'channel-item-head' }, h('span', { class: 'channel-name' }, device.name), remove),
    h('p', { class: 'channel-meta muted' }, `Client id and user name: ${device.client_id}`),
    h('p', { class: 'channel-meta muted' },
      device.channels.length
        ? device.channels.map((g) => `#${g.channel_id} (${rights(g)})`).join(', ')
        : 'No channels'));
}

function createSection(signal, shown, reload) {
  const name = field({ name: 'name', label: 'Name', required: true, maxlength: 255, autocomplete: 'off' });
  const choices = h('div', { class: 'stack' }, h('p', { class: 'muted' }, 'Loading your channels…'));
  api.get('/channels.json', { signal }).then((channels) => {
    const list = Array.isArray(channels) ? channels : [];
    choices.replaceChildren(...(list.length ? list.map(channelChoice) : [h('p', { class: 'muted' }, 'Create a channel first.')]));
  }).catch((err) => { if (!isAbort(err)) choices.replaceChildren(errorNotice(err)); });

  const form = createForm({
    fields: [name],
    after: [h('fieldset', null, h('legend', null, 'Channels'), choices)],
    submitLabel: 'Add device',
    busyLabel: 'Adding…',
    validate: (v) => problems({ name: check.required(v.name, 'Give the device a name.') }),
    onSubmit: async (v, controller) => {
      const channels = [...choices.querySelectorAll('[data-channel]')]
        .map((row) => ({
          channel_id: Number(row.dataset.channel),
          publish: row.querySelector('[name=publish]').checked,
          subscribe: row.querySelector('[name=subscribe]').checked,
        }))
        .filter((g) => g.publish || g.subscribe);
      const device = await api.post('/api/mqtt/devices', { name: v.name, channels });
      shown.replaceChildren(card('Save these now',
        h('p', null, 'The password is shown this once.'),
        h('dl', null,
          h('dt', null, 'Client id'), h('dd', null, h('code', null, device.client_id)),
          h('dt', null, 'User name'), h('dd', null, h('code', null, device.username)),
          h('dt', null, 'Password'), h('dd', null, h('code', null, device.password)))).element);
      controller.form.reset();
      reload();
    },
  });
  return card('New device', form.form).element;
}

function channelChoice(channel) {
  const label = channel.name || `Channel ${channel.id}`;
  return h('div', { 'data-channel': String(channel.id), class: 'channel-choice' },
    h('span', null, `${label} (#${channel.id})`), ' ',
    h('label', null, h('input', { type: 'checkbox', name: 'publish' }), ' publish'), ' ',
    h('label', null, h('input', { type: 'checkbox', name: 'subscribe' }), ' subscribe'));
}
