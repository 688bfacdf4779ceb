// A channel's automation rules (#/channel/rules?id=N): the list with each rule's kind, settings and actions in words,
// on/off, edit, delete, and its events log a page at a time; a form to create one (rule-form.js).

import { api, ApiError } from '../core/api.js';
import { card, describeError, errorNotice, h, isAbort, wideScreen } from '../core/dom.js';
import { formatDateTime, formatNumber, t } from '../core/i18n.js';
import { ruleForm } from './rule-form.js';
import { fieldName } from './widget-views.js';

const EVENTS_PAGE = 20;

function rulesPath(channelId, ruleId = null) {
  const base = `/api/channels/${encodeURIComponent(channelId)}/rules`;
  return ruleId ? `${base}/${encodeURIComponent(ruleId)}` : base;
}

/** What a rule does, in words: "Temperature above 30 → Alert, TalkBack command". */
export function ruleSummary(rule, channel) {
  const c = rule.config || {};
  const n = (v) => formatNumber(v, { maximumFractionDigits: 6 });
  let when;
  if (rule.kind === 'threshold') {
    when = t('iot.rules.summary.threshold', { field: fieldName(channel, c.field), op: t(`iot.rules.op.${c.op}`), value: n(c.value) });
  } else if (rule.kind === 'no_data') when = t('iot.rules.summary.no_data', { seconds: n(c.seconds) });
  else if (rule.kind === 'expression') when = t('iot.rules.summary.expression', { expression: c.expression });
  else when = t('iot.rules.summary.pid', { field: fieldName(channel, c.field), setpoint: n(c.setpoint) });
  const then = (rule.actions || []).map((a) => t(`iot.rules.action.${a.type}`)).join(', ');
  return `${when} → ${then}`;
}

function eventText(event) {
  const d = event.detail || {};
  const label = t(`iot.rules.event.${event.kind}`);
  const parts = [];
  if (typeof d.value === 'number') parts.push(t('iot.rules.event.value', { value: formatNumber(d.value, { maximumFractionDigits: 6 }) }));
  if (d.type) parts.push(d.type === 'email' ? t('iot.rules.event.email') : t(`iot.rules.action.${d.type}`));
  if (typeof d.silent_seconds === 'number') parts.push(t('iot.rules.event.silent', { seconds: formatNumber(Math.round(d.silent_seconds)) }));
  if (d.error || d.message) parts.push(String(d.error || d.message));
  return parts.length ? `${label}: ${parts.join(' · ')}` : label;
}

function eventsPanel(channelId, rule, signal) {
  const list = h('ol', { class: 'rule-events' });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', class: 'button small', hidden: true }, t('iot.rules.events.more'));
  const refresh = h('button', { type: 'button', class: 'button small' }, t('iot.rules.events.refresh'));
  let cursor = null;
  async function load(reset) {
    if (reset) cursor = null;
    const query = new URLSearchParams({ limit: String(EVENTS_PAGE) });
    if (cursor) query.set('cursor', cursor);
    status.textContent = t('iot.rules.events.loading');
    try {
      const page = await api.get(`${rulesPath(channelId, rule.id)}/events?${query}`, { signal });
      const items = page.events.map((e) => h('li', null,
        h('time', { class: 'muted', datetime: new Date(e.at * 1000).toISOString() }, formatDateTime(e.at)), ' — ', eventText(e)));
      if (reset) list.replaceChildren(...items);
      else list.append(...items);
      cursor = page.next;
      more.hidden = !cursor;
      status.textContent = list.children.length ? '' : t('iot.rules.events.none');
    } catch (err) {
      if (!isAbort(err)) status.textContent = describeError(err) || '';
    }
  }
  more.addEventListener('click', () => load(false));
  refresh.addEventListener('click', () => load(true));
  load(true);
  return h('section', { class: 'rule-events-panel', 'aria-label': t('iot.rules.events.of', { name: rule.name }) },
    h('h4', null, t('iot.rules.events.title')), status, list, h('div', { class: 'actions' }, more, refresh));
}

function ruleItem(initial, ctx) {
  let rule = initial;
  const element = h('li', { class: 'rule-item', 'data-rule': rule.id });
  const slot = h('div');
  function render() {
    const toggle = h('button', { type: 'button', class: 'button small' }, rule.enabled ? t('iot.rules.disable') : t('iot.rules.enable'));
    const edit = h('button', { type: 'button', class: 'button small' }, t('iot.rules.edit'));
    const events = h('button', { type: 'button', class: 'button small', 'aria-expanded': 'false' }, t('iot.rules.events'));
    const remove = h('button', { type: 'button', class: 'button small danger' }, t('iot.rules.delete'));
    const status = h('p', { class: 'status', role: 'status' });
    for (const b of [toggle, edit, events, remove]) b.setAttribute('aria-label', `${b.textContent}: ${rule.name}`);
    toggle.addEventListener('click', async () => {
      toggle.disabled = true;
      try {
        rule = await api.post(`${rulesPath(ctx.channel.id, rule.id)}/${rule.enabled ? 'disable' : 'enable'}`, {});
        render();
        element.querySelector('button').focus();
      } catch (err) {
        status.textContent = describeError(err) || '';
        toggle.disabled = false;
      }
    });
    edit.addEventListener('click', () => {
      const form = ruleForm({
        rule, ...ctx,
        onSave: async (body) => {
          rule = await api.patch(rulesPath(ctx.channel.id, rule.id), body);
          render();
        },
        onCancel: () => render(),
      });
      slot.replaceChildren(h('h4', null, t('iot.rules.editing', { name: rule.name })), form);
      form.querySelector('input').focus();
    });
    events.addEventListener('click', () => {
      const open = events.getAttribute('aria-expanded') === 'true';
      events.setAttribute('aria-expanded', String(!open));
      slot.replaceChildren(open ? '' : eventsPanel(ctx.channel.id, rule, ctx.signal));
    });
    remove.addEventListener('click', async () => {
      if (!window.confirm(t('iot.rules.delete_confirm', { name: rule.name }))) return;
      try {
        await api.delete(rulesPath(ctx.channel.id, rule.id));
        ctx.removed(element);
      } catch (err) {
        status.textContent = describeError(err) || '';
      }
    });
    slot.replaceChildren();
    element.replaceChildren(
      h('div', { class: 'rule-head' }, h('h3', null, rule.name),
        h('span', { class: rule.enabled ? 'badge success' : 'badge' }, rule.enabled ? t('iot.rules.on') : t('iot.rules.off'))),
      h('p', { class: 'rule-summary' }, ruleSummary(rule, ctx.channel)),
      h('div', { class: 'actions rule-buttons' }, toggle, edit, events, remove), status, slot);
  }
  render();
  return element;
}

export function rulesView({ params, signal }) {
  const id = params.get('id') || '';
  const section = wideScreen(t('iot.rules.title'));
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('iot.channel.loading')));
  section.append(h('p', { class: 'links' }, h('a', { href: `#/channel?id=${encodeURIComponent(id)}` }, t('iot.rules.back'))), body);
  if (!/^\d{1,18}$/.test(id)) {
    body.replaceChildren(h('p', { class: 'notice error' }, t('iot.channel.no_such')));
    body.removeAttribute('aria-busy');
    return section;
  }
  Promise.all([
    api.get(`/channels/${encodeURIComponent(id)}.json`, { signal }),
    api.get(`${rulesPath(id)}?limit=200`, { signal }),
    api.get('/talkbacks.json', { signal }),
    api.get('/channels.json', { signal }),
  ]).then(([channel, page, talkbacks, channels]) => {
    if (signal.aborted) return;
    body.removeAttribute('aria-busy');
    body.replaceChildren(...rulesScreen({ channel, rules: page.rules, talkbacks, channels, signal }));
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    body.removeAttribute('aria-busy');
    body.replaceChildren(err instanceof ApiError && (err.status === 404 || err.status === 401)
      ? h('p', { class: 'notice error' }, t('iot.channel.not_yours')) : errorNotice(err));
  });
  return section;
}

function rulesScreen({ channel, rules, talkbacks, channels, signal }) {
  const list = h('ul', { class: 'rule-list' });
  const empty = h('p', { class: 'muted' }, t('iot.rules.none'));
  const ctx = {
    channel, talkbacks, channels, signal,
    removed(element) {
      element.remove();
      empty.hidden = list.children.length > 0;
      listCard.heading.focus();
    },
  };
  const listCard = card(t('iot.rules.list', { name: channel.name || t('iot.channel.numbered', { id: channel.id }) }), empty, list);
  for (const rule of rules) list.append(ruleItem(rule, ctx));
  empty.hidden = rules.length > 0;
  const create = card(t('iot.rules.new'));
  const mount = () => {
    const form = ruleForm({
      channel, talkbacks, channels,
      onSave: async (body) => {
        const rule = await api.post(rulesPath(channel.id), body);
        list.append(ruleItem(rule, ctx));
        empty.hidden = true;
        mount();
        list.lastElementChild.querySelector('h3').setAttribute('tabindex', '-1');
        list.lastElementChild.querySelector('h3').focus();
      },
    });
    create.element.replaceChildren(create.heading, h('p', { class: 'muted' }, t('iot.rules.about')), form);
  };
  mount();
  return [listCard.element, create.element];
}
