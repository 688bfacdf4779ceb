// How each kind of dashboard widget looks: a numeric tile, a gauge, a lamp, status text, a location plot (SVG, no
// map tiles from anywhere), and the controls (switch, button, slider). Each view is {element, update(store)}.

import { describeError, h } from '../core/dom.js';
import { formatDateTime, formatNumber, t, tn } from '../core/i18n.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

export function fieldName(channel, n) {
  return channel[`field${n}`] || t('iot.settings.field_n', { n });
}

export function widgetTitle(spec, channel) {
  if (spec.title) return spec.title;
  if (spec.field) return fieldName(channel, spec.field);
  if (spec.target && spec.target.field) return fieldName(channel, spec.target.field);
  return t(`iot.widget.type.${spec.type}`);
}

function shown(value, spec) {
  if (value === null || value === undefined) return '–';
  const digits = Number.isInteger(spec.decimals) ? spec.decimals : undefined;
  const text = formatNumber(value, digits === undefined ? { maximumFractionDigits: 3 }
    : { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return spec.unit ? `${text} ${spec.unit}` : text;
}

/** The level a lamp shows for `value`: the level of the highest threshold at or below it, else off. */
export function lampLevel(thresholds, value) {
  let level = 'off';
  if (value === null || value === undefined) return level;
  for (const th of thresholds) if (value >= th.at) level = th.level;
  return level;
}

function frame(spec, channel, ...body) {
  return h('article', { class: `widget widget-${spec.type}`, 'data-type': spec.type },
    h('h3', { class: 'widget-title' }, widgetTitle(spec, channel)), ...body);
}

function numberView(spec, channel) {
  const value = h('p', { class: 'widget-value' }, '–');
  const when = h('p', { class: 'widget-time muted' });
  return {
    element: frame(spec, channel, value, when),
    update(store) {
      const last = store.latest(spec.field);
      value.textContent = shown(last && last.value, spec);
      when.textContent = last ? formatDateTime(last.time) : t('iot.widget.no_data');
    },
  };
}

function arc(fraction) {
  const angle = Math.PI * (1 - Math.min(1, Math.max(0, fraction)));
  return `M 10 60 A 50 50 0 0 1 ${60 + 50 * Math.cos(angle)} ${60 - 50 * Math.sin(angle)}`;
}

function gaugeView(spec, channel) {
  const fill = svg('path', { class: 'gauge-fill', d: arc(0), fill: 'none', 'stroke-width': 12 });
  const text = svg('text', { x: 60, y: 56, 'text-anchor': 'middle', class: 'gauge-text' });
  const picture = svg('svg', { viewBox: '0 0 120 72', class: 'gauge', 'aria-hidden': 'true' },
    svg('path', { class: 'gauge-track', d: arc(1), fill: 'none', 'stroke-width': 12 }), fill, text);
  const label = h('p', { class: 'widget-range muted' }, `${formatNumber(spec.min)} – ${formatNumber(spec.max)}`);
  const element = frame(spec, channel, h('div', { role: 'img' }, picture), label);
  const image = element.querySelector('[role="img"]');
  return {
    element,
    update(store) {
      const last = store.latest(spec.field);
      const value = last ? last.value : null;
      fill.setAttribute('d', arc(value === null ? 0 : (value - spec.min) / (spec.max - spec.min)));
      text.textContent = shown(value, spec);
      image.setAttribute('aria-label', t('iot.widget.gauge_label', {
        value: shown(value, spec), min: formatNumber(spec.min), max: formatNumber(spec.max),
      }));
    },
  };
}

function lampView(spec, channel) {
  const light = h('span', { class: 'lamp', 'data-level': 'off', 'aria-hidden': 'true' });
  const text = h('span', { class: 'lamp-text' });
  const value = h('p', { class: 'widget-time muted' });
  return {
    element: frame(spec, channel, h('p', { class: 'lamp-row' }, light, text), value),
    update(store) {
      const last = store.latest(spec.field);
      const level = lampLevel(spec.thresholds, last ? last.value : null);
      light.dataset.level = level;
      text.textContent = t(`iot.widget.level.${level}`);
      value.textContent = last ? shown(last.value, spec) : t('iot.widget.no_data');
    },
  };
}

function statusView(spec, channel) {
  const text = h('p', { class: 'widget-status-text' }, '–');
  const when = h('p', { class: 'widget-time muted' });
  return {
    element: frame(spec, channel, text, when),
    update(store) {
      const last = store.latestStatus();
      text.textContent = last ? last.text : t('iot.widget.no_status');
      when.textContent = last ? formatDateTime(last.time) : '';
    },
  };
}

/** The track on a plain plane: longitude across (scaled by the cosine of the latitude), latitude up. */
function locationView(spec, channel) {
  const picture = svg('svg', { viewBox: '0 0 200 140', class: 'location-plot', 'aria-hidden': 'true' });
  const caption = h('p', { class: 'widget-time muted' });
  const element = frame(spec, channel, h('div', { role: 'img', 'aria-label': t('iot.widget.no_location') }, picture), caption);
  const image = element.querySelector('[role="img"]');
  return {
    element,
    update(store) {
      const points = store.track(spec.points || 100);
      picture.replaceChildren(svg('rect', { x: 1, y: 1, width: 198, height: 138, class: 'location-frame', fill: 'none' }));
      if (!points.length) {
        caption.textContent = t('iot.widget.no_location');
        image.setAttribute('aria-label', caption.textContent);
        return;
      }
      const lats = points.map((p) => p.lat);
      const longs = points.map((p) => p.long);
      const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
      const scaleX = Math.cos((midLat * Math.PI) / 180) || 1;
      const xs = longs.map((l) => l * scaleX);
      const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...lats) - Math.min(...lats), 1e-4);
      const cx = (Math.max(...xs) + Math.min(...xs)) / 2;
      const cy = midLat;
      const unit = 120 / span;
      const at = (p) => [100 + (p.long * scaleX - cx) * unit, 70 - (p.lat - cy) * unit];
      const coords = points.map(at);
      if (coords.length > 1) {
        picture.append(svg('polyline', { points: coords.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '), class: 'location-track', fill: 'none' }));
      }
      const [lx, ly] = coords[coords.length - 1];
      picture.append(svg('circle', { cx: lx.toFixed(1), cy: ly.toFixed(1), r: 5, class: 'location-here' }));
      const last = points[points.length - 1];
      const where = t('iot.widget.position', {
        lat: formatNumber(last.lat, { maximumFractionDigits: 5 }), long: formatNumber(last.long, { maximumFractionDigits: 5 }),
      });
      caption.textContent = `${where} · ${formatDateTime(last.time)}`;
      image.setAttribute('aria-label', tn('iot.widget.track', points.length, { where }));
    },
  };
}

function controlView(spec, channel, send) {
  const status = h('p', { class: 'widget-time muted', role: 'status' });
  const run = async (value, button) => {
    button.disabled = true;
    status.textContent = t('iot.widget.sending');
    try {
      await send(spec, value);
      status.textContent = t('iot.widget.sent', { value });
      return true;
    } catch (err) {
      status.textContent = (err && err.serverMessage && describeError(err)) || t('iot.widget.send_failed');
      return false;
    } finally {
      button.disabled = false;
    }
  };
  const title = widgetTitle(spec, channel);
  if (spec.type === 'button') {
    const button = h('button', { type: 'button', class: 'button primary' }, spec.send);
    button.addEventListener('click', () => run(spec.send, button));
    return { element: frame(spec, channel, button, status), update() {} };
  }
  if (spec.type === 'switch') {
    const button = h('button', { type: 'button', class: 'button iot-switch', role: 'switch', 'aria-checked': 'false', 'aria-label': title },
      h('span', { class: 'iot-switch-knob', 'aria-hidden': 'true' }), h('span', { class: 'iot-switch-text' }, t('iot.widget.off')));
    const show = (on) => {
      button.setAttribute('aria-checked', String(on));
      button.lastChild.textContent = on ? t('iot.widget.on') : t('iot.widget.off');
    };
    button.addEventListener('click', async () => {
      const on = button.getAttribute('aria-checked') !== 'true';
      if (await run(on ? spec.on : spec.off, button)) show(on);
    });
    return {
      element: frame(spec, channel, button, status),
      update(store) {
        if (!spec.target.field) return;
        const last = store.latest(spec.target.field);
        if (last) show(String(last.value) === spec.on || (Number(spec.on) === last.value));
      },
    };
  }
  const input = h('input', { type: 'range', min: spec.min, max: spec.max, step: spec.step, value: spec.min, 'aria-label': title });
  const output = h('output', { class: 'slider-value' }, formatNumber(spec.min));
  const button = h('button', { type: 'button', class: 'button small' }, t('iot.widget.send'));
  input.addEventListener('input', () => { output.textContent = formatNumber(Number(input.value)); });
  button.addEventListener('click', () => run(spec.command.replaceAll('{value}', input.value), button));
  return {
    element: frame(spec, channel, h('div', { class: 'slider-row' }, input, output, button), status),
    update(store) {
      if (!spec.target.field || document.activeElement === input) return;
      const last = store.latest(spec.target.field);
      if (last) {
        input.value = String(last.value);
        output.textContent = formatNumber(last.value);
      }
    },
  };
}

const VIEWS = { number: numberView, gauge: gaugeView, lamp: lampView, status: statusView, location: locationView };

/** The view of one widget; `send(spec, value)` carries out a control's action (controls only). */
export function widgetView(spec, channel, send) {
  const make = VIEWS[spec.type];
  if (make) return make(spec, channel);
  return controlView(spec, channel, send);
}
