// One channel of the IoT dashboard: its chart with controls, its dashboard of widgets, sharing (public page, embeds),
// its keys, its settings, and what the owner can do to it (import, clear, delete); links to its rules and TalkBacks.

import { api, ApiError } from '../core/api.js';
import { errorNotice, h, isAbort, wideScreen } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { keysOf, readKeysSection, writeSection } from './channel-keys.js';
import { manageSection } from './channel-manage.js';
import { settingsSection } from './channel-settings.js';
import { shareSection } from './channel-share.js';
import { channelPath, chartSection } from './chart-section.js';
import { channelFeed } from './live.js';
import { dashboardSection } from './widgets.js';

export function channelView({ params, signal, navigate }) {
  const id = params.get('id') || '';
  const section = wideScreen(t('iot.channel.title'));
  const title = section.querySelector('h1');
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('iot.channel.loading')));
  section.append(h('p', { class: 'links' }, h('a', { href: '#/channels' }, t('iot.channel.all')), ' · ',
    h('a', { href: `#/channel/rules?id=${encodeURIComponent(id)}` }, t('iot.rules.title')), ' · ',
    h('a', { href: '#/talkbacks' }, t('iot.talkbacks.title'))), body);

  if (!/^\d{1,18}$/.test(id)) {
    body.replaceChildren(h('p', { class: 'notice error' }, t('iot.channel.no_such')));
    body.removeAttribute('aria-busy');
    return section;
  }

  const rename = (name) => {
    title.textContent = name;
    document.title = t('core.page_title', { title: name, app: 'Realtime' });
  };
  api.get(`${channelPath(id)}.json`, { signal }).then((channel) => {
    if (signal.aborted) return;
    rename(channel.name || t('iot.channel.numbered', { id: channel.id }));
    body.removeAttribute('aria-busy');
    body.replaceChildren(...channelScreen(channel, signal, navigate, (name) => rename(name)));
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    body.removeAttribute('aria-busy');
    body.replaceChildren(err instanceof ApiError && err.status === 404
      ? h('p', { class: 'notice error' }, t('iot.channel.not_yours'))
      : errorNotice(err));
  });
  return section;
}

function channelScreen(initial, signal, navigate, onRename) {
  let channel = initial;
  const keys = keysOf(channel);
  const feed = channelFeed(channel.id, signal);
  const chart = chartSection({ channel, feed, readKey: null, signal });
  const write = writeSection(channel, keys);
  const share = shareSection(channel);
  const dashboard = dashboardSection({ channel, feed, writeKey: write.writeKey, signal, onChange: share.widgetsChanged });
  const settings = settingsSection(channel, (updated) => {
    channel = { ...updated, api_keys: channel.api_keys };
    onRename(channel.name || t('iot.channel.numbered', { id: channel.id }));
    chart.fieldsChanged(channel);
    write.fieldsChanged(channel);
    dashboard.fieldsChanged(channel);
    share.fieldsChanged(channel);
  });
  Promise.all([chart.ready, dashboard.ready]).then(() => {
    if (!signal.aborted) feed.start(channel.last_entry_id || 0);
  });
  return [dashboard.element, chart.element, share.element, write.element, readKeysSection(keys.read), settings,
    manageSection({ channel, writeKey: write.writeKey, navigate })];
}
