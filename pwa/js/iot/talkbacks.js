// The owner's TalkBacks (#/talkbacks): command queues that devices read with the TalkBack's key, each with a link
// to its queue, and a form to create one (optionally logging executed commands to a channel).

import { api } from '../core/api.js';
import { card, errorNotice, h, isAbort, uid, wideScreen } from '../core/dom.js';
import { check, createForm, field, problems } from '../core/forms.js';
import { formatDateTime, t } from '../core/i18n.js';

export function talkbackPath(id) {
  return `/talkbacks/${encodeURIComponent(id)}`;
}

export function talkbacksView({ signal, navigate }) {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('iot.talkbacks.loading')));
  const section = wideScreen(t('iot.talkbacks.title'),
    h('p', { class: 'links' }, h('a', { href: '#/channels' }, t('iot.channel.all'))),
    h('p', { class: 'muted' }, t('iot.talkbacks.about')),
    body);
  Promise.all([api.get('/talkbacks.json', { signal }), api.get('/channels.json', { signal })]).then(([talkbacks, channels]) => {
    if (signal.aborted) return;
    body.removeAttribute('aria-busy');
    body.replaceChildren(listCard(talkbacks, channels), createCard(channels, navigate));
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    body.removeAttribute('aria-busy');
    body.replaceChildren(errorNotice(err));
  });
  return section;
}

function listCard(talkbacks, channels) {
  const names = Object.fromEntries(channels.map((c) => [c.id, c.name || t('iot.channel.numbered', { id: c.id })]));
  const { element } = card(t('iot.talkbacks.mine'));
  if (!talkbacks.length) {
    element.append(h('p', { class: 'muted' }, t('iot.talkbacks.none')));
    return element;
  }
  element.append(h('ul', { class: 'talkback-list' }, talkbacks.map((tb) => h('li', { class: 'talkback-item', 'data-talkback': String(tb.id) },
    h('a', { href: `#/talkback?id=${encodeURIComponent(tb.id)}`, class: 'channel-name' }, tb.name || `#${tb.id}`),
    h('p', { class: 'muted' }, `#${tb.id} · `,
      tb.channel_id ? t('iot.talkbacks.logs_to', { name: names[tb.channel_id] || `#${tb.channel_id}` }) : t('iot.talkbacks.no_log'),
      ' · ', t('iot.talkbacks.created', { time: formatDateTime(new Date(tb.created_at)) }))))));
  return element;
}

/** A select of the owner's channels to log executed commands to ('' for none). */
export function logChannelSelect(channels, value = '') {
  const id = uid('talkback-channel');
  const select = h('select', { id, name: 'channel_id', class: 'iot-select', 'aria-describedby': `${id}-hint` },
    h('option', { value: '' }, t('iot.talkbacks.no_log_option')),
    channels.map((c) => h('option', { value: String(c.id) }, c.name || t('iot.channel.numbered', { id: c.id }))));
  select.value = value === null ? '' : String(value);
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, t('iot.talkbacks.log_channel')),
    h('p', { id: `${id}-hint`, class: 'field-hint' }, t('iot.talkbacks.log_hint')), select);
  return { select, wrap };
}

function createCard(channels, navigate) {
  const name = field({ name: 'name', label: t('iot.talkbacks.name'), required: true, maxlength: 255, autocomplete: 'off' });
  const log = logChannelSelect(channels);
  const form = createForm({
    fields: [name],
    after: [],
    submitLabel: t('iot.talkbacks.create'),
    busyLabel: t('iot.talkbacks.creating'),
    validate: (v) => problems({ name: check.required(v.name, t('iot.talkbacks.name_required')) }),
    onSubmit: async (v) => {
      const body = { name: v.name };
      if (log.select.value) body.channel_id = Number(log.select.value);
      const created = await api.post('/talkbacks.json', body);
      navigate(`/talkback?id=${encodeURIComponent(created.id)}`);
    },
  });
  form.form.insertBefore(log.wrap, form.button.parentElement);
  return card(t('iot.talkbacks.new'), form.form).element;
}
