// Charts of a channel's fields, drawn with uPlot (served from node_modules at /static/vendor/): several fields
// on one chart, time axis labels in the user's language (never finer than seconds), zoom by dragging or with
// the buttons, pan with the buttons.
//
// uPlot sets element styles through the CSSOM, which the strict CSP allows; its stylesheet is a
// same-origin file, so nothing here needs 'unsafe-inline'.

import { h, uid } from '../core/dom.js';
import { formatDateTime, formatNumber, language, t, tn } from '../core/i18n.js';

const UPLOT_JS = '/static/vendor/uPlot.iife.min.js';
const UPLOT_CSS = '/static/vendor/uPlot.min.css';
export const MAX_POINTS = 8000;

let uPlotPromise = null;

/** Load uPlot once (script and stylesheet); resolves to the uPlot constructor. */
export function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!uPlotPromise) {
    if (!document.querySelector(`link[href="${UPLOT_CSS}"]`)) {
      document.head.append(h('link', { rel: 'stylesheet', href: UPLOT_CSS }));
    }
    uPlotPromise = new Promise((resolve, reject) => {
      const script = h('script', { src: UPLOT_JS });
      script.addEventListener('load', () => (window.uPlot ? resolve(window.uPlot) : reject(new Error('uPlot did not load'))));
      script.addEventListener('error', () => {
        script.remove();
        uPlotPromise = null;
        reject(new Error('uPlot could not be loaded'));
      });
      document.head.append(script);
    });
  }
  return uPlotPromise;
}

/** Seconds since the epoch from a created_at string (ISO 8601), or null. */
export function epochSeconds(createdAt) {
  if (typeof createdAt !== 'string') return null;
  const ms = Date.parse(createdAt);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** A field value as a number; anything non-numeric (null, '', 'n/a') is a gap. */
export function numeric(value) {
  if (value === null || value === undefined) return null;
  const text = String(value).trim();
  if (text === '') return null;
  const number = Number(text);
  return Number.isFinite(number) ? number : null;
}

/**
 * The last `max` entries of a channel, in time order, as columns uPlot can draw:
 * times (epoch seconds) and one column per field (numbers or null for gaps), plus each entry's status and
 * position for the status and location widgets.
 */
export class EntryStore {
  constructor(max = MAX_POINTS) {
    this.max = max;
    this.times = [];
    this.fields = Array.from({ length: 8 }, () => []);
    this.extras = [];
    this.lastEntryId = 0;
  }

  get size() {
    return this.times.length;
  }

  /** Add ThingSpeak entries; entries already seen (by entry_id) are skipped. Returns how many were added. */
  add(entries) {
    let added = 0;
    for (const entry of entries) {
      if (!entry || typeof entry !== 'object') continue;
      const id = Number(entry.entry_id);
      if (Number.isInteger(id) && id > 0) {
        if (id <= this.lastEntryId) continue;
        this.lastEntryId = id;
      }
      const time = epochSeconds(entry.created_at);
      if (time === null) continue;
      // Points usually arrive in time order; a point with an earlier created_at is slotted in place.
      let at = this.times.length;
      while (at > 0 && this.times[at - 1] > time) at -= 1;
      this.times.splice(at, 0, time);
      for (let n = 0; n < 8; n += 1) this.fields[n].splice(at, 0, numeric(entry[`field${n + 1}`]));
      this.extras.splice(at, 0, {
        status: typeof entry.status === 'string' ? entry.status : null,
        lat: numeric(entry.latitude),
        long: numeric(entry.longitude),
      });
      added += 1;
    }
    const extra = this.times.length - this.max;
    if (extra > 0) {
      this.times.splice(0, extra);
      for (const column of this.fields) column.splice(0, extra);
      this.extras.splice(0, extra);
    }
    return added;
  }

  /** [times, values of field n (1-8)]; copies, so uPlot never sees the arrays change under it. */
  columns(n) {
    return [this.times.slice(), this.fields[n - 1].slice()];
  }

  /** The newest numeric value of field n with its time, or null. */
  latest(n) {
    const column = this.fields[n - 1];
    for (let i = column.length - 1; i >= 0; i -= 1) {
      if (column[i] !== null) return { value: column[i], time: this.times[i] };
    }
    return null;
  }

  /** The newest status text with its time, or null. */
  latestStatus() {
    for (let i = this.extras.length - 1; i >= 0; i -= 1) {
      if (this.extras[i].status) return { text: this.extras[i].status, time: this.times[i] };
    }
    return null;
  }

  /** The last `count` positions, oldest first: [{lat, long, time}]. */
  track(count) {
    const found = [];
    for (let i = this.extras.length - 1; i >= 0 && found.length < count; i -= 1) {
      const { lat, long } = this.extras[i];
      if (lat !== null && long !== null && Math.abs(lat) <= 90 && Math.abs(long) <= 180) {
        found.push({ lat, long, time: this.times[i] });
      }
    }
    return found.reverse();
  }
}

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

const SERIES_COLORS = ['--chart-1', '--chart-2', '--chart-3', '--chart-4'];
const darkScheme = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
// Tick steps in seconds: nothing finer than a second, so the time axis never shows milliseconds.
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
  86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400];

/** Time axis labels in the user's language, as fine as the tick step needs: seconds, minutes, days or months. */
export function timeLabels(splits, step) {
  let options;
  if (step < 60) options = { hour: 'numeric', minute: '2-digit', second: '2-digit' };
  else if (step < 86400) options = { hour: 'numeric', minute: '2-digit' };
  else if (step < 28 * 86400) options = { day: 'numeric', month: 'short' };
  else options = { month: 'short', year: 'numeric' };
  const format = new Intl.DateTimeFormat(language(), options);
  return splits.map((s) => format.format(new Date(s * 1000)));
}

function valueText(v) {
  return v === null || v === undefined ? '–' : formatNumber(v, { maximumFractionDigits: 6 });
}

/**
 * One chart of several fields of `store` (`fields`: [[n, label]]): a figure with a caption, the latest values
 * as text, zoom and pan buttons, and the plot. `update()` after the store changed (redraws at most once a frame),
 * `destroy()` when done.
 */
export function fieldsChart({ uPlot, store, fields, caption }) {
  const captionId = uid('chart');
  const latest = h('p', { class: 'chart-latest muted' });
  const plotArea = h('div', { class: 'chart-plot', role: 'img', 'aria-labelledby': captionId });
  const button = (label, text, onclick) => h('button', { type: 'button', class: 'button small', 'aria-label': label, title: label, onclick }, text);
  const zoomBar = h('div', { class: 'chart-zoom', role: 'group', 'aria-label': t('iot.chart.zoom_group') },
    button(t('iot.chart.pan_left'), '◀', () => pan(-0.5)),
    button(t('iot.chart.zoom_in'), '+', () => zoom(0.5)),
    button(t('iot.chart.zoom_out'), '−', () => zoom(2)),
    button(t('iot.chart.pan_right'), '▶', () => pan(0.5)),
    h('button', { type: 'button', class: 'button small', title: t('iot.chart.reset_zoom'), onclick: () => resetZoom() }, t('iot.chart.reset')));
  const figure = h('figure', { class: 'chart' },
    h('figcaption', { id: captionId }, h('span', { class: 'chart-title' }, caption || fields.map(([, l]) => l).join(', '))),
    latest, zoomBar, plotArea);

  const axis = () => ({
    stroke: () => cssVar('--muted', '#586174'),
    grid: { stroke: () => cssVar('--chart-grid', '#e4e7ee'), width: 1 },
    ticks: { stroke: () => cssVar('--chart-grid', '#e4e7ee'), width: 1 },
  });
  const options = {
    width: 600,
    height: 240,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    legend: { live: true },
    // The shown time range, also as data attributes (what zoom and pan changed, for tests and tools).
    hooks: {
      setScale: [(u, key) => {
        if (key !== 'x') return;
        plotArea.dataset.from = String(Math.round(u.scales.x.min));
        plotArea.dataset.to = String(Math.round(u.scales.x.max));
      }],
    },
    series: [
      { value: (u, v) => (v === null || v === undefined ? '–' : formatDateTime(v, 'dateTime')) },
      ...fields.map(([n, label], i) => ({
        label,
        stroke: () => cssVar(SERIES_COLORS[i % SERIES_COLORS.length], '#2b59d9'),
        width: 2,
        spanGaps: false,
        points: { show: (u, seriesIdx, i0, i1) => i1 - i0 < 60 },
        value: (u, v) => valueText(v),
        field: n,
      })),
    ],
    axes: [
      { ...axis(), space: 70, incrs: TIME_STEPS, values: (u, splits, ax, space, step) => timeLabels(splits, step) },
      { ...axis(), size: 64, values: (u, splits) => splits.map((v) => formatNumber(v)) },
    ],
  };

  let plot = null;
  let frame = 0;
  let destroyed = false;

  function data() {
    return [store.times.slice(), ...fields.map(([n]) => store.fields[n - 1].slice())];
  }

  function describeLatest() {
    const parts = fields.map(([n, label]) => {
      const last = store.latest(n);
      return last ? t('iot.chart.latest_value', { field: label, value: valueText(last.value) }) : null;
    }).filter(Boolean);
    const newest = store.size ? store.times[store.size - 1] : null;
    latest.textContent = parts.length
      ? `${parts.join(' · ')} · ${t('iot.chart.at', { time: formatDateTime(newest) })} · ${tn('iot.chart.points', store.size)}`
      : t('iot.chart.no_values');
  }

  function draw() {
    frame = 0;
    if (destroyed) return;
    if (!plot) {
      options.width = Math.max(240, plotArea.clientWidth || 600);
      options.height = plotHeight();
      plot = new uPlot(options, data(), plotArea);
    } else {
      plot.setData(data(), !zoomed());
    }
    describeLatest();
  }

  function zoomed() {
    if (!plot || !store.size) return false;
    const { min, max } = plot.scales.x;
    return min > store.times[0] || max < store.times[store.size - 1];
  }

  function zoom(factor) {
    if (!plot || !store.size) return;
    const { min, max } = plot.scales.x;
    const middle = (min + max) / 2;
    const half = Math.max(1, ((max - min) * factor) / 2);
    plot.setScale('x', { min: middle - half, max: middle + half });
  }

  function pan(fraction) {
    if (!plot || !store.size) return;
    const { min, max } = plot.scales.x;
    const shift = (max - min) * fraction;
    plot.setScale('x', { min: min + shift, max: max + shift });
  }

  function resetZoom() {
    if (!plot || !store.size) return;
    plot.setScale('x', { min: store.times[0], max: store.times[store.size - 1] });
  }

  function plotHeight() {
    return window.innerWidth < 480 ? 200 : 260;
  }

  const resizer = typeof ResizeObserver === 'function'
    ? new ResizeObserver(() => {
      if (plot && plotArea.clientWidth > 0) plot.setSize({ width: plotArea.clientWidth, height: plotHeight() });
    })
    : null;
  if (resizer) resizer.observe(plotArea);

  const onScheme = () => {
    if (plot) plot.redraw(true, true);
  };
  if (darkScheme) darkScheme.addEventListener('change', onScheme);

  return {
    element: figure,
    update() {
      if (!frame && !destroyed) frame = requestAnimationFrame(draw);
    },
    destroy() {
      destroyed = true;
      if (frame) cancelAnimationFrame(frame);
      if (resizer) resizer.disconnect();
      if (darkScheme) darkScheme.removeEventListener('change', onScheme);
      if (plot) plot.destroy();
      plot = null;
    },
  };
}
