// A channel's dashboard: the widgets its owner arranged (saved on the server, /api/channels/{id}/widgets), fed
// with the channel's latest points, live. The owner edits them here (widget-editor.js); the public page and the
// embed show the display widgets read-only.

import { api } from '../core/api.js';
import { card, errorNotice, h, isAbort } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { channelPath } from './chart-section.js';
import { EntryStore } from './chart.js';
import { widgetEditor } from './widget-editor.js';
import { widgetView } from './widget-views.js';

const RECENT = 200; // points the widgets look back over (location tracks, the last status)
// What anyone sees of a public channel's dashboard (its page, embeds); controls are the owner's.
export const DISPLAY_TYPES = ['number', 'gauge', 'lamp', 'status', 'location'];

export function widgetsPath(id) {
  return `/api/channels/${encodeURIComponent(id)}/widgets`;
}

/** The latest points of a channel, with status and position, for widgets (`get`: how to read, see chart-section). */
export async function recentEntries(channelId, signal, { readKey = null, results = RECENT, get = api.get } = {}) {
  const query = new URLSearchParams({ results: String(results), status: 'true', location: 'true' });
  if (readKey) query.set('api_key', readKey);
  const answer = await get(`${channelPath(channelId)}/feeds.json?${query}`, { signal });
  return Array.isArray(answer && answer.feeds) ? answer.feeds : [];
}

/** Carry out a control: write the channel field, or queue the TalkBack command. */
function sender(channel, writeKey) {
  return async (spec, value) => {
    if (spec.target.field) {
      const answer = await api.post('/update.json', { api_key: writeKey(), [`field${spec.target.field}`]: value });
      if (!answer || answer === 0 || answer === '0') throw new Error('refused');
      return;
    }
    await api.post(`/talkbacks/${encodeURIComponent(spec.target.talkback_id)}/commands.json`, { command_string: value });
  };
}

/** A grid of widget views over `store`; returns {element, render(widgets), update()}. */
export function widgetGrid({ channel, store, send }) {
  const element = h('div', { class: 'widget-grid' });
  let views = [];
  return {
    element,
    render(widgets, current = channel) {
      views = widgets.map((spec) => widgetView(spec, current, send));
      element.replaceChildren(...views.map((v) => v.element));
      for (const view of views) view.update(store);
    },
    update() {
      for (const view of views) view.update(store);
    },
  };
}

/**
 * The owner's dashboard card. `feed`: the screen's channelFeed; `writeKey()`: the channel's write key now;
 * `onChange(widgets)` hears the widgets once loaded and after each save. Returns {element, ready, fieldsChanged(channel)}.
 */
export function dashboardSection({ channel: initial, feed, writeKey, signal, onChange = () => {} }) {
  let channel = initial;
  let widgets = [];
  const { element } = card(t('iot.dashboard.title'));
  const store = new EntryStore(RECENT * 2);
  const grid = widgetGrid({ channel, store, send: sender(channel, writeKey) });
  const empty = h('p', { class: 'muted' }, t('iot.dashboard.empty'));
  const notice = h('div');
  const editButton = h('button', { type: 'button', class: 'button small', 'aria-expanded': 'false' }, t('iot.dashboard.edit'));
  const editorSlot = h('div');
  element.append(h('div', { class: 'card-actions' }, editButton), notice, grid.element, empty, editorSlot);

  function show() {
    empty.hidden = widgets.length > 0;
    grid.render(widgets, channel);
  }

  function closeEditor() {
    editorSlot.replaceChildren();
    editButton.setAttribute('aria-expanded', 'false');
    editButton.hidden = false;
    editButton.focus();
  }

  editButton.addEventListener('click', () => {
    editButton.setAttribute('aria-expanded', 'true');
    editButton.hidden = true;
    const editor = widgetEditor({
      channel,
      widgets,
      signal,
      onSave: async (next) => {
        const saved = await api.put(widgetsPath(channel.id), { widgets: next });
        widgets = saved.widgets;
        onChange(widgets);
        show();
        closeEditor();
      },
      onCancel: closeEditor,
    });
    editorSlot.replaceChildren(editor);
    const heading = editor.querySelector('h3');
    if (heading) heading.focus();
  });

  feed.listen((entries) => {
    if (store.add(entries)) grid.update();
  });

  const ready = Promise.all([api.get(widgetsPath(channel.id), { signal }), recentEntries(channel.id, signal)])
    .then(([answer, entries]) => {
      if (signal.aborted) return;
      widgets = answer.widgets;
      onChange(widgets);
      store.add(entries);
      show();
    }, (err) => {
      if (signal.aborted || isAbort(err)) return;
      notice.replaceChildren(errorNotice(err));
    });

  return {
    element,
    ready,
    fieldsChanged(updated) {
      channel = updated;
      show();
    },
  };
}
