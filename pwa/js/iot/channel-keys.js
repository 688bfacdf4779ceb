// A channel's keys on its screen: the write key with an example request, and the read keys. Values can be copied.

import { api } from '../core/api.js';
import { card, h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { actionButton } from '../core/forms.js';
import { namedFields } from './channel-fields.js';
import { channelPath } from './chart-section.js';

export function keysOf(channel) {
  const keys = Array.isArray(channel.api_keys) ? channel.api_keys : [];
  return {
    write: keys.find((k) => k.write_flag) || null,
    read: keys.filter((k) => !k.write_flag),
  };
}

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

/** A read-only value (key, command, URL) with a Copy button; `set(value)` changes it. */
export function copyable({ label, value, multiline = false, hint = null }) {
  const id = uid('copy');
  const hintId = hint ? `${id}-hint` : null;
  const input = multiline
    ? h('textarea', { id, class: 'mono copy-value', readonly: true, rows: 3, spellcheck: 'false', 'aria-describedby': hintId })
    : h('input', { id, type: 'text', class: 'mono copy-value', readonly: true, spellcheck: 'false', 'aria-describedby': hintId });
  input.value = value;
  const status = h('span', { class: 'copy-status muted', role: 'status' });
  const button = h('button', { type: 'button', class: 'button small', 'aria-label': t('iot.copy.label', { what: label }) }, t('iot.copy'));
  let clearTimer = 0;
  button.addEventListener('click', async () => {
    const ok = await copyText(input.value, input);
    status.textContent = ok ? t('iot.copy.done') : t('iot.copy.select');
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

function curlLine(channel, writeKey) {
  const named = namedFields(channel);
  const numbers = named.length ? named.map(([n]) => n) : [1];
  const query = [`api_key=${encodeURIComponent(writeKey || 'WRITE_KEY')}`]
    .concat(numbers.map((n, i) => `field${n}=${(20 + i * 1.5).toFixed(1)}`));
  return `curl "${location.origin}/update?${query.join('&')}"`;
}

export function writeSection(initialChannel, keys) {
  let channel = initialChannel;
  let writeKey = keys.write ? keys.write.api_key : '';
  const { element } = card(t('iot.write.title'));
  const key = copyable({ label: t('iot.write.key'), value: writeKey, hint: t('iot.write.key_hint') });
  const example = copyable({
    label: t('iot.write.example'), value: curlLine(channel, writeKey), multiline: true, hint: t('iot.write.example_hint'),
  });
  const status = h('p', { class: 'status', role: 'status' });
  const regenerate = actionButton({
    label: t('iot.write.regenerate'),
    busyLabel: t('iot.write.regenerating'),
    className: 'button danger small',
    status,
    onClick: async () => {
      if (!window.confirm(t('iot.write.regenerate_confirm'))) return undefined;
      const answer = await api.post(`${channelPath(channel.id)}/api_keys/write.json`, {});
      writeKey = answer.api_key;
      key.set(writeKey);
      example.set(curlLine(channel, writeKey));
      return t('iot.write.regenerated');
    },
  });
  element.append(key.element, h('div', { class: 'actions' }, regenerate), status, example.element);
  return {
    element,
    writeKey: () => writeKey,
    fieldsChanged(updated) {
      channel = updated;
      example.set(curlLine(channel, writeKey));
    },
  };
}

export function readKeysSection(readKeys) {
  const { element } = card(t('iot.read.title'));
  element.append(h('p', { class: 'muted' }, t('iot.read.about')));
  if (!readKeys.length) element.append(h('p', { class: 'muted' }, t('iot.read.none')));
  readKeys.forEach((k, i) => {
    const label = readKeys.length > 1 ? t('iot.read.key_n', { n: i + 1 }) : t('iot.read.key');
    element.append(copyable({ label, value: k.api_key, hint: k.note || null }).element);
  });
  return element;
}
