// The controls above a channel's chart: time range (presets or a custom start and end), averaging, sum or median
// over a timescale (computed by the read API itself), and which fields share the chart.

import { h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';

export const RANGES = {
  live: { results: 500 },
  hour: { minutes: 60 },
  six_hours: { minutes: 360 },
  day: { minutes: 1440 },
  week: { days: 7 },
  month: { days: 30 },
  custom: {},
};
export const AGGREGATES = ['raw', 'average', 'median', 'sum'];
export const TIMESCALES = ['10', '15', '20', '30', '60', '240', '720', '1440', 'daily'];

/** The read API query for a choice: {range, start, end, aggregate, timescale} (start/end: Date). */
export function feedQuery(choice) {
  const query = new URLSearchParams();
  if (choice.range === 'custom') {
    query.set('start', String(Math.floor(choice.start.getTime() / 1000)));
    query.set('end', String(Math.floor(choice.end.getTime() / 1000)));
    query.set('results', '8000');
  } else {
    for (const [name, value] of Object.entries(RANGES[choice.range])) query.set(name, String(value));
    if (choice.range !== 'live') query.set('results', '8000');
  }
  if (choice.aggregate !== 'raw') query.set(choice.aggregate, choice.timescale);
  // Daily buckets start at midnight where the user is.
  query.set('timezone', Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  return query;
}

/** Whether points arriving live belong on the chart of this choice (a raw window that ends now). */
export function followsLive(choice) {
  return choice.range !== 'custom' && choice.aggregate === 'raw';
}

function select(label, name, options, value) {
  const id = uid(`chart-${name}`);
  const element = h('select', { id, name }, options.map(([v, text]) => h('option', { value: v }, text)));
  element.value = value;
  return { element, wrap: h('div', { class: 'field' }, h('label', { for: id }, label), element) };
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * The controls. `fields`: [[n, name]] of the channel; `onChange(choice)` on every valid change, where choice is
 * {range, start, end, aggregate, timescale, fields: [n]}. Returns {element, choice()}.
 */
export function chartControls({ fields, onChange }) {
  const range = select(t('iot.chart.range'), 'range',
    Object.keys(RANGES).map((r) => [r, t(`iot.chart.range.${r}`)]), 'live');
  const aggregate = select(t('iot.chart.aggregate'), 'aggregate',
    AGGREGATES.map((a) => [a, t(`iot.chart.aggregate.${a}`)]), 'raw');
  const timescale = select(t('iot.chart.timescale'), 'timescale',
    TIMESCALES.map((s) => [s, s === 'daily' ? t('iot.chart.timescale.daily') : t('iot.chart.timescale.minutes', { count: s })]), '60');
  const now = new Date();
  const startId = uid('chart-start');
  const endId = uid('chart-end');
  const start = h('input', { id: startId, type: 'datetime-local', name: 'start', value: localInput(new Date(now - 86400000)) });
  const end = h('input', { id: endId, type: 'datetime-local', name: 'end', value: localInput(now) });
  const apply = h('button', { type: 'submit', class: 'button small' }, t('iot.chart.apply'));
  const error = h('p', { class: 'field-error', role: 'alert' });
  const custom = h('div', { class: 'chart-custom', hidden: true },
    h('div', { class: 'field' }, h('label', { for: startId }, t('iot.chart.start')), start),
    h('div', { class: 'field' }, h('label', { for: endId }, t('iot.chart.end')), end),
    apply);
  const boxes = fields.map(([n, name], i) => {
    const id = uid(`chart-field${n}`);
    const box = h('input', { id, type: 'checkbox', value: String(n) });
    box.checked = i < 4;
    return { n, box, wrap: h('div', { class: 'checkbox-row' }, box, h('label', { for: id }, name)) };
  });
  const fieldGroup = h('fieldset', { class: 'chart-fields' }, h('legend', null, t('iot.chart.fields')), boxes.map((b) => b.wrap));
  const form = h('form', { class: 'chart-controls', novalidate: true },
    h('div', { class: 'chart-controls-row' }, range.wrap, aggregate.wrap, timescale.wrap),
    custom, error, fields.length > 1 ? fieldGroup : null);

  function choice() {
    return {
      range: range.element.value,
      start: new Date(start.value),
      end: new Date(end.value),
      aggregate: aggregate.element.value,
      timescale: timescale.element.value,
      fields: boxes.filter((b) => b.box.checked).map((b) => b.n),
    };
  }

  function problem(c) {
    if (c.range === 'custom') {
      if (Number.isNaN(c.start.getTime()) || Number.isNaN(c.end.getTime())) return t('iot.chart.error.dates');
      if (c.start >= c.end) return t('iot.chart.error.order');
    }
    if (fields.length && !c.fields.length) return t('iot.chart.error.no_field');
    return '';
  }

  function changed() {
    custom.hidden = range.element.value !== 'custom';
    timescale.wrap.hidden = aggregate.element.value === 'raw';
    const c = choice();
    error.textContent = problem(c);
    if (!error.textContent) onChange(c);
  }

  range.element.addEventListener('change', () => {
    // A custom range waits for Apply; everything else applies at once.
    custom.hidden = range.element.value !== 'custom';
    if (range.element.value !== 'custom') changed();
  });
  aggregate.element.addEventListener('change', changed);
  timescale.element.addEventListener('change', changed);
  for (const b of boxes) b.box.addEventListener('change', changed);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    changed();
  });
  timescale.wrap.hidden = true;
  return { element: form, choice };
}
