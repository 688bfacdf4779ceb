// MQTT devices: credentials a device logs in to the broker with, each allowed to publish to and subscribe to
// channels of yours. The password is shown once, right after the device is made.

import { api } from '../core/api.js';
import { card, errorNotice, h, isAbort, wideScreen } from '../core/dom.js';
import { check, createForm, field, problems } from '../core/forms.js';
import { t } from '../core/i18n.js';

export function devicesView({ signal }) {
  const shown = h('div', { 'aria-live': 'polite' });
  const list = deviceList(signal);
  return wideScreen(t('iot.devices.title'),
    h('p', { class: 'links' }, h('a', { href: '#/channels' }, t('iot.devices.back'))),
    h('p', { class: 'muted' },
      t('iot.devices.about', { publish: 'channels/ID/publish', subscribe: 'channels/ID/subscribe' })),
    shown,
    list.element,
    createSection(signal, shown, list.load));
}

function deviceList(signal) {
  const { element } = card(t('iot.devices.mine'));
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('iot.devices.loading')));
  element.append(body);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const page = await api.get('/api/mqtt/devices?limit=200', { signal });
      if (signal.aborted) return;
      const devices = page.devices || [];
      body.replaceChildren(devices.length
        ? h('ul', { class: 'channel-list' }, devices.map((d) => deviceItem(d, load)))
        : h('p', { class: 'muted' }, t('iot.devices.none')));
    } catch (err) {
      if (signal.aborted || isAbort(err)) return;
      body.replaceChildren(errorNotice(err), h('button', { type: 'button', class: 'button', onclick: load }, t('iot.try_again')));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }
  load();
  return { element, load };
}

function rights(grant) {
  return [grant.publish ? t('iot.devices.publish') : null, grant.subscribe ? t('iot.devices.subscribe') : null].filter(Boolean).join(' + ');
}

function deviceItem(device, reload) {
  const remove = h('button', { type: 'button', class: 'button' }, t('iot.devices.delete'));
  remove.addEventListener('click', async () => {
    if (!window.confirm(t('iot.devices.delete_confirm', { name: device.name }))) return;
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
    h('p', { class: 'channel-meta muted' }, t('iot.devices.client_id', { id: device.client_id })),
    h('p', { class: 'channel-meta muted' },
      device.channels.length
        ? device.channels.map((g) => `#${g.channel_id} (${rights(g)})`).join(', ')
        : t('iot.devices.no_channels')));
}

function createSection(signal, shown, reload) {
  const name = field({ name: 'name', label: t('iot.devices.name'), required: true, maxlength: 255, autocomplete: 'off' });
  const choices = h('div', { class: 'stack' }, h('p', { class: 'muted' }, t('iot.channels.loading')));
  api.get('/channels.json', { signal }).then((channels) => {
    const list = Array.isArray(channels) ? channels : [];
    choices.replaceChildren(...(list.length ? list.map(channelChoice) : [h('p', { class: 'muted' }, t('iot.devices.create_channel_first'))]));
  }).catch((err) => { if (!isAbort(err)) choices.replaceChildren(errorNotice(err)); });

  const form = createForm({
    fields: [name],
    after: [h('fieldset', null, h('legend', null, t('iot.devices.channels')), choices)],
    submitLabel: t('iot.devices.add'),
    busyLabel: t('iot.devices.adding'),
    validate: (v) => problems({ name: check.required(v.name, t('iot.devices.name_required')) }),
    onSubmit: async (v, controller) => {
      const channels = [...choices.querySelectorAll('[data-channel]')]
        .map((row) => ({
          channel_id: Number(row.dataset.channel),
          publish: row.querySelector('[name=publish]').checked,
          subscribe: row.querySelector('[name=subscribe]').checked,
        }))
        .filter((g) => g.publish || g.subscribe);
      const device = await api.post('/api/mqtt/devices', { name: v.name, channels });
      shown.replaceChildren(card(t('iot.devices.save_now'),
        h('p', null, t('iot.devices.shown_once')),
        h('dl', null,
          h('dt', null, t('iot.devices.client')), h('dd', null, h('code', null, device.client_id)),
          h('dt', null, t('iot.devices.username')), h('dd', null, h('code', null, device.username)),
          h('dt', null, t('iot.devices.password')), h('dd', null, h('code', null, device.password)))).element);
      controller.form.reset();
      reload();
    },
  });
  return card(t('iot.devices.new'), form.form).element;
}

function channelChoice(channel) {
  const label = channel.name || t('iot.channel.numbered', { id: channel.id });
  return h('div', { 'data-channel': String(channel.id), class: 'channel-choice' },
    h('span', null, `${label} (#${channel.id})`), ' ',
    h('label', null, h('input', { type: 'checkbox', name: 'publish' }), ' ', t('iot.devices.publish')), ' ',
    h('label', null, h('input', { type: 'checkbox', name: 'subscribe' }), ' ', t('iot.devices.subscribe')));
}
