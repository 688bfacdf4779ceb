// A public channel's page, for anyone, signed in or not (#/public/channel?id=N): its name, description, display
// widgets and chart, read through the public read API (no key, no session) and refreshed every few seconds. The
// owner shares its address from the channel screen (channel-share.js).

import { ApiError, isSignedIn, request } from '../core/api.js';
import { card, errorNotice, h, isAbort, wideScreen } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { chartSection } from './chart-section.js';
import { EntryStore } from './chart.js';
import { pollingFeed } from './live.js';
import { recentEntries, widgetGrid, widgetsPath } from './widgets.js';

export function publicPath(id) {
  return `/public/channel?id=${encodeURIComponent(id)}`;
}

/** The page's address, to share. */
export function publicUrl(id) {
  return `${location.origin}/#${publicPath(id)}`;
}

/** A read as anyone makes it: no session, so a signed-out visitor is never sent to sign in. */
export const publicGet = (path, options) => request('GET', path, { ...options, auth: false });

export function publicChannelView({ params, signal }) {
  const id = params.get('id') || '';
  const section = wideScreen(t('iot.public.title'));
  const title = section.querySelector('h1');
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('iot.channel.loading')));
  const back = isSignedIn()
    ? h('a', { href: '#/channels' }, t('iot.channel.all'))
    : h('a', { href: '#/signin' }, t('iot.public.sign_in'));
  section.append(h('p', { class: 'links' }, back), body);
  const notFound = () => {
    body.removeAttribute('aria-busy');
    body.replaceChildren(h('p', { class: 'notice error' }, t('iot.public.not_found')));
  };
  if (!/^\d{1,18}$/.test(id)) {
    notFound();
    return section;
  }
  publicGet(`/channels/${encodeURIComponent(id)}.json`, { signal }).then((channel) => {
    if (signal.aborted) return;
    if (!channel || !channel.public_flag) {
      notFound();
      return;
    }
    const name = channel.name || t('iot.channel.numbered', { id: channel.id });
    title.textContent = name;
    document.title = t('core.page_title', { title: name, app: 'Realtime' });
    body.removeAttribute('aria-busy');
    body.replaceChildren(...publicScreen(channel, signal));
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    if (err instanceof ApiError && (err.status === 404 || err.status === 401)) notFound();
    else {
      body.removeAttribute('aria-busy');
      body.replaceChildren(errorNotice(err));
    }
  });
  return section;
}

function publicScreen(channel, signal) {
  const feed = pollingFeed(channel.id, signal, { get: publicGet });
  const dashboard = publicDashboard(channel, feed, signal);
  const chart = chartSection({ channel, feed, readKey: null, signal, get: publicGet });
  Promise.all([chart.ready, dashboard.ready]).then(() => {
    if (!signal.aborted) feed.start();
  });
  return [
    h('p', { class: 'muted public-badge' }, h('span', { class: 'badge success' }, t('iot.channels.public')), ' ',
      t('iot.public.about', { id: channel.id })),
    channel.description ? h('p', { class: 'channel-description' }, channel.description) : null,
    dashboard.element,
    chart.element,
  ].filter(Boolean);
}

/** The channel's display widgets, as anyone sees them (controls are the owner's and never shown here). */
function publicDashboard(channel, feed, signal) {
  const { element } = card(t('iot.dashboard.title'));
  const store = new EntryStore(400);
  const grid = widgetGrid({ channel, store, send: null });
  element.append(grid.element);
  element.hidden = true;
  feed.listen((entries) => {
    if (store.add(entries)) grid.update();
  });
  const ready = Promise.all([
    publicGet(widgetsPath(channel.id), { signal }),
    recentEntries(channel.id, signal, { get: publicGet }),
  ]).then(([answer, entries]) => {
    if (signal.aborted || !answer.widgets.length) return;
    store.add(entries);
    grid.render(answer.widgets);
    element.hidden = false;
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    element.hidden = false;
    element.append(errorNotice(err));
  });
  return { element, ready };
}
