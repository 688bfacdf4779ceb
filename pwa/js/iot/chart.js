// Live charts of a channel's fields, drawn with uPlot (served from node_modules at /static/vendor/).
//
// uPlot sets element styles through the CSSOM, which the strict CSP allows; its stylesheet is a
// same-origin file, so nothing here needs 'unsafe-inline'.

import { h, uid } from '../core/dom.js';

const UPLOT_JS = '/static/vendor/uPlot.iife.min.js';
const UPLOT_CSS = '/static/vendor/uPlot.min.css';
export const MAX_POINTS = 2000;

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
 * The last MAX_POINTS entries of a channel, in time order, as columns uPlot can draw:
 * times (epoch seconds) and one column per field (numbers or null for gaps).
 */
export class EntryStore {
  constructor(max = MAX_POINTS) {
    this.max = max;
    this.times = [];
    this.fields = Array.from({ length: 8 }, () => []);
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
      const t = epochSeconds(entry.created_at);
      if (t === null) continue;
      // Points usually arrive in time order; a point with an earlier created_at is slotted in place.
      let at = this.times.length;
      while (at > 0 && this.times[at - 1] > t) at -= 1;
      this.times.splice(at, 0, t);
      for (let n = 0; n < 8; n += 1) this.fields[n].splice(at, 0, numeric(entry[`field${n + 1}`]));
      added += 1;
    }
    const extra = this.times.length - this.max;
    if (extra > 0) {
      this.times.splice(0, extra);
      for (const column of this.fields) column.splice(0, extra);
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
}

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

const SERIES_COLORS = ['--chart-1', '--chart-2', '--chart-3', '--chart-4'];
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const darkScheme = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

/**
 * One chart for field `n` of `store`: a figure with a caption, the latest value as text, and the plot.
 * Call `update()` after the store changed (redraws at most once a frame) and `destroy()` when done.
 */
export function fieldChart({ uPlot, store, n, label }) {
  const captionId = uid('chart');
  const latest = h('p', { class: 'chart-latest muted' });
  const plotArea = h('div', { class: 'chart-plot', role: 'img', 'aria-labelledby': captionId });
  const figure = h('figure', { class: 'chart' },
    h('figcaption', { id: captionId },
      h('span', { class: 'chart-title' }, label), h('span', { class: 'muted' }, ` · field ${n}`)),
    latest,
    plotArea);

  const colorVar = SERIES_COLORS[(n - 1) % SERIES_COLORS.length];
  const axis = () => ({
    stroke: () => cssVar('--muted', '#586174'),
    grid: { stroke: () => cssVar('--chart-grid', '#e4e7ee'), width: 1 },
    ticks: { stroke: () => cssVar('--chart-grid', '#e4e7ee'), width: 1 },
  });
  const options = {
    width: 600,
    height: 220,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    legend: { live: true },
    series: [
      { value: (u, t) => (t === null || t === undefined ? '–' : timeFormat.format(new Date(t * 1000))) },
      {
        label,
        stroke: () => cssVar(colorVar, '#2b59d9'),
        width: 2,
        spanGaps: false,
        points: { show: (u, seriesIdx, i0, i1) => i1 - i0 < 60 },
        value: (u, v) => (v === null || v === undefined ? '–' : String(v)),
      },
    ],
    axes: [axis(), { ...axis(), size: 60 }],
  };

  let plot = null;
  let frame = 0;
  let destroyed = false;

  function describeLatest() {
    const last = store.latest(n);
    latest.textContent = last
      ? `Latest ${last.value} at ${timeFormat.format(new Date(last.time * 1000))} · ${store.size} points`
      : 'No numeric values yet.';
  }

  function draw() {
    frame = 0;
    if (destroyed) return;
    const data = store.columns(n);
    if (!plot) {
      options.width = Math.max(240, plotArea.clientWidth || 600);
      options.height = plotHeight();
      plot = new uPlot(options, data, plotArea);
    } else {
      plot.setData(data);
    }
    describeLatest();
  }

  function plotHeight() {
    return window.innerWidth < 480 ? 180 : 220;
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
