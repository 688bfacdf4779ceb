// The embed pages other sites frame (server/iot/embed.py renders them): a public channel's chart, or one of its
// display widgets, read through the public read API and refreshed every 15 seconds. The page's language is the one
// the server chose (Accept-Language); the app's own choice on this device is left alone.

import { request } from '../core/api.js';
import { h } from '../core/dom.js';
import { addStrings, setLanguage, t } from '../core/i18n.js';
import { namedFields } from './channel-fields.js';
import { EntryStore, fieldsChart, loadUPlot } from './chart.js';
import { strings } from './strings.js';
import { widgetView } from './widget-views.js';

const EVERY_SECONDS = 15;
const get = (path) => request('GET', path, { auth: false });

function feedPath(channelId, results) {
  const query = new URLSearchParams({ results: String(results), status: 'true', location: 'true' });
  return `/channels/${encodeURIComponent(channelId)}/feeds.json?${query}`;
}

async function start(main) {
  addStrings(strings);
  setLanguage(document.documentElement.lang, { keep: false });
  const body = main.querySelector('.embed-body');
  const channelId = main.dataset.channel;
  const results = Number(main.dataset.results) || 200;
  const store = new EntryStore(Math.max(results, 400));
  const channel = await get(`/channels/${encodeURIComponent(channelId)}.json`);
  let view;
  if (main.dataset.kind === 'widget') {
    const { widgets } = await get(`/api/channels/${encodeURIComponent(channelId)}/widgets`);
    const spec = widgets[Number(main.dataset.widget) - 1];
    if (!spec) throw new Error('no such widget');
    view = widgetView(spec, channel, null);
  } else {
    const names = Object.fromEntries(namedFields(channel));
    const fields = main.dataset.fields.split(',').map(Number)
      .map((n) => [n, names[n] || t('iot.settings.field_n', { n })]);
    view = fieldsChart({ uPlot: await loadUPlot(), store, fields });
  }
  const refresh = async () => {
    const answer = await get(feedPath(channelId, results));
    if (store.add(Array.isArray(answer && answer.feeds) ? answer.feeds : [])) view.update(store);
  };
  await refresh();
  body.replaceChildren(view.element);
  body.removeAttribute('aria-busy');
  view.update(store);
  setInterval(() => refresh().catch(() => {}), EVERY_SECONDS * 1000); // a failed read is tried again next time
}

const main = document.querySelector('.embed-main[data-channel]');
if (main) {
  start(main).catch(() => {
    const body = main.querySelector('.embed-body');
    body.removeAttribute('aria-busy');
    body.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, t('iot.embed.failed')));
  });
}
