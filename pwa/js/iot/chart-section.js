// The chart card of a channel: its controls, one chart of the chosen fields over the chosen range, live points
// while the range ends now, and a CSV export of what is shown. Used by the owner's channel screen and the public
// page (which has no read key: public channels are readable without one).

import { api, ApiError } from '../core/api.js';
import { card, errorNotice, h, isAbort } from '../core/dom.js';
import { t, tn } from '../core/i18n.js';
import { namedFields } from './channel-fields.js';
import { chartControls, feedQuery, followsLive } from './chart-controls.js';
import { EntryStore, fieldsChart, loadUPlot } from './chart.js';

export function channelPath(id) {
  return `/channels/${encodeURIComponent(id)}`;
}

/**
 * `feed`: the screen's channelFeed (live.js) or pollingFeed; `readKey`: a key to read a private channel with, or null;
 * `get(path, options)`: how to read (the public page reads signed out). Returns {element, fieldsChanged(channel)}.
 */
export function chartSection({ channel: initial, feed, readKey, signal, get = api.get }) {
  let channel = initial;
  const { element } = card(t('iot.chart.title'));
  const statusDot = h('span', { class: 'live-dot', 'aria-hidden': 'true' });
  const statusText = h('span', null, t('iot.live.loading'));
  const status = h('p', { class: 'live-status', role: 'status', 'aria-live': 'polite', 'data-state': 'connecting' },
    statusDot, statusText);
  const exportLink = h('a', { class: 'button small', download: `channel-${channel.id}.csv` }, t('iot.chart.export'));
  const notice = h('div');
  const chartArea = h('div', { class: 'charts' });
  const controlsSlot = h('div');
  element.append(h('div', { class: 'live-head' }, status, exportLink), controlsSlot, notice, chartArea);

  let controls = null;
  let store = new EntryStore();
  let plot = null;
  let uPlot = null;
  let choice = null;
  let liveState = ['connecting', undefined];
  let loadCount = 0;

  function showStatus() {
    const [state, detail] = liveState;
    const following = choice && followsLive(choice);
    status.dataset.state = following ? state : 'paused';
    if (!following) statusText.textContent = t('iot.live.fixed_range');
    else if (state === 'live') statusText.textContent = t('iot.live.live');
    else if (state === 'polling') statusText.textContent = tn('iot.live.polling', detail);
    else if (state === 'connecting') statusText.textContent = t('iot.live.connecting');
    else if (state === 'reconnecting') statusText.textContent = detail ? tn('iot.live.reconnecting_in', detail) : t('iot.live.reconnecting');
    else if (state === 'offline') statusText.textContent = t('iot.live.offline');
    else if (state === 'failed') statusText.textContent = detail || t('iot.live.stopped');
    else statusText.textContent = detail || '';
  }

  function buildChart() {
    if (plot) plot.destroy();
    plot = null;
    const named = namedFields(channel).filter(([n]) => choice.fields.includes(n));
    if (!namedFields(channel).length) {
      chartArea.replaceChildren(h('p', { class: 'muted' }, t('iot.chart.name_a_field')));
      return;
    }
    if (!uPlot || !named.length) return;
    plot = fieldsChart({ uPlot, store, fields: named });
    chartArea.replaceChildren(plot.element);
    plot.update();
  }

  function query() {
    const q = feedQuery(choice);
    if (readKey) q.set('api_key', readKey);
    return q;
  }

  async function load() {
    loadCount += 1;
    const mine = loadCount;
    const q = query();
    exportLink.href = `${channelPath(channel.id)}/feeds.csv?${q}`;
    chartArea.setAttribute('aria-busy', 'true');
    try {
      const [answer, loaded] = await Promise.all([
        get(`${channelPath(channel.id)}/feeds.json?${q}`, { signal }),
        loadUPlot(),
      ]);
      if (signal.aborted || mine !== loadCount) return;
      uPlot = loaded;
      store = new EntryStore();
      store.add(Array.isArray(answer && answer.feeds) ? answer.feeds : []);
      notice.replaceChildren();
    } catch (err) {
      if (signal.aborted || isAbort(err) || mine !== loadCount) return;
      notice.replaceChildren(err instanceof ApiError ? errorNotice(err)
        : h('p', { class: 'notice error', role: 'alert' }, t('iot.chart.no_library')));
      return;
    } finally {
      if (mine === loadCount) chartArea.removeAttribute('aria-busy');
    }
    buildChart();
    showStatus();
  }

  function setup() {
    controls = chartControls({
      fields: namedFields(channel),
      onChange: (next) => {
        choice = next;
        load();
      },
    });
    controlsSlot.replaceChildren(controls.element);
    choice = controls.choice();
  }

  feed.listen((entries) => {
    if (!choice || !followsLive(choice)) return;
    if (store.add(entries) && plot) plot.update();
  });
  feed.watch((state, detail) => {
    liveState = [state, detail];
    showStatus();
  });
  signal.addEventListener('abort', () => {
    if (plot) plot.destroy();
    plot = null;
  }, { once: true });

  setup();
  const ready = load();

  return {
    element,
    ready,
    fieldsChanged(updated) {
      const before = namedFields(channel).join('|');
      channel = updated;
      if (namedFields(channel).join('|') !== before) {
        setup();
        load();
      }
    },
  };
}
