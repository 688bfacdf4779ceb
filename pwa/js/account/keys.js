// The account page's keys: the user API key (shown, copied, regenerated) and a summary of the MQTT devices,
// whose screen (#/mqtt-devices, iot/devices.js) is where they are made and deleted.

import { api } from '../core/api.js';
import { card, describeError, errorNotice, h, isAbort } from '../core/dom.js';
import { actionButton } from '../core/forms.js';
import { t, tn } from '../core/i18n.js';

const SHOWN_DEVICES = 5;

/** The cards the account page shows for keys: hooked into account/home.js with one line. */
export function keysSections(signal) {
  return [apiKeySection(signal), mqttSection(signal)];
}

function apiKeySection(signal) {
  const { element, heading } = card(t('account.keys.title'));
  const status = h('p', { class: 'status', role: 'status' });
  const keyId = 'account-api-key';
  const value = h('input', {
    id: keyId, type: 'text', class: 'mono key-value', readonly: true, value: '', spellcheck: 'false',
    autocomplete: 'off', 'aria-describedby': 'account-api-key-hint',
  });
  const copy = actionButton({
    label: t('account.keys.copy'),
    className: 'button small',
    status,
    onClick: async () => {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(value.value);
        return t('account.keys.copied');
      }
      value.select(); // no clipboard API (plain http): select it for the person to copy
      return t('account.keys.selected');
    },
  });
  const confirmBox = h('div', { class: 'confirm', hidden: true, role: 'group', 'aria-labelledby': 'api-key-confirm' });
  const regenerate = h('button', { type: 'button', class: 'button small danger' }, t('account.keys.regenerate'));
  const yes = actionButton({
    label: t('account.keys.confirm'),
    busyLabel: t('account.keys.regenerating'),
    className: 'button small danger',
    status,
    onClick: async () => {
      const answer = await api.post('/api/me/api-key/regenerate', {});
      show(answer.api_key);
      confirmBox.hidden = true;
      regenerate.hidden = false;
      heading.focus();
      return t('account.keys.regenerated');
    },
  });
  const no = h('button', { type: 'button', class: 'button small' }, t('account.keys.cancel'));
  confirmBox.append(h('p', { id: 'api-key-confirm' }, t('account.keys.warning')), h('div', { class: 'actions' }, yes, no));
  regenerate.addEventListener('click', () => {
    confirmBox.hidden = false;
    regenerate.hidden = true;
    no.focus();
  });
  no.addEventListener('click', () => {
    confirmBox.hidden = true;
    regenerate.hidden = false;
    regenerate.focus();
  });

  function show(key) {
    value.value = key || '';
    copy.disabled = !key;
  }
  show('');
  api.get('/api/me/api-key', { signal }).then((answer) => show(answer.api_key), (err) => {
    if (signal.aborted || isAbort(err)) return;
    status.textContent = describeError(err) || '';
  });

  element.append(
    h('p', { class: 'muted', id: 'account-api-key-hint' }, t('account.keys.intro')),
    h('div', { class: 'field' }, h('label', { for: keyId }, t('account.keys.label')), value),
    h('div', { class: 'actions' }, copy, regenerate),
    confirmBox,
    status);
  return element;
}

function mqttSection(signal) {
  const { element } = card(t('account.mqtt.title'));
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('account.loading')));
  element.append(
    h('p', { class: 'muted' }, t('account.mqtt.intro')),
    body,
    h('p', { class: 'actions' }, h('a', { class: 'button', href: '#/mqtt-devices' }, t('account.mqtt.manage'))));

  api.get(`/api/mqtt/devices?limit=${SHOWN_DEVICES + 1}`, { signal }).then((page) => {
    if (signal.aborted) return;
    const devices = Array.isArray(page && page.devices) ? page.devices : [];
    const more = Boolean(page && page.next) || devices.length > SHOWN_DEVICES;
    body.replaceChildren(devices.length
      ? h('ul', { class: 'key-devices' }, devices.slice(0, SHOWN_DEVICES).map(deviceItem))
      : h('p', null, t('account.mqtt.none')));
    if (more) body.append(h('p', { class: 'muted' }, t('account.mqtt.more')));
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    body.replaceChildren(errorNotice(err) || '');
  }).finally(() => body.removeAttribute('aria-busy'));
  return element;
}

function deviceItem(device) {
  const channels = Array.isArray(device.channels) ? device.channels.length : 0;
  return h('li', null,
    h('span', { class: 'key-device-name' }, device.name), ' ',
    h('span', { class: 'muted' }, t('account.mqtt.user'), ' ', h('code', null, device.username)), ' · ',
    h('span', { class: 'muted' }, tn('account.mqtt.channels', channels)));
}
