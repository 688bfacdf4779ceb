// Sharing a public channel from its screen: the public page's address (Copy, Share, Open) and the iframe code of
// its embeddable chart and of each display widget, for other sites. A private channel says how to share it.

import { card, h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { copyable } from './channel-keys.js';
import { publicPath, publicUrl } from './public.js';
import { widgetTitle } from './widget-views.js';
import { DISPLAY_TYPES } from './widgets.js';

function attribute(text) {
  return String(text).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The HTML another site pastes to show `path` (an /embed/... page) in a frame. */
export function iframeCode(path, title, height) {
  return `<iframe src="${attribute(location.origin + path)}" title="${attribute(title)}" width="600" height="${height}"`
    + ' style="border: 0; max-width: 100%" loading="lazy"></iframe>';
}

export function embedPath(channelId, widgetNumber = null) {
  const base = `/embed/channels/${encodeURIComponent(channelId)}`;
  return widgetNumber === null ? `${base}/chart` : `${base}/widgets/${widgetNumber}`;
}

/** Returns {element, fieldsChanged(channel), widgetsChanged(widgets)}. */
export function shareSection(initial) {
  let channel = initial;
  let displays = [];
  const { element } = card(t('iot.share.title'));
  const body = h('div');
  element.append(body);

  function widgetPart(name) {
    if (!displays.length) return h('p', { class: 'muted' }, t('iot.share.no_widgets'));
    const id = uid('share-widget');
    const choose = h('select', { id, class: 'iot-select' }, displays.map((w, i) => h('option', { value: String(i + 1) }, widgetTitle(w, channel))));
    const code = copyable({ label: t('iot.share.widget_code'), value: '', multiline: true });
    const update = () => {
      const number = Number(choose.value);
      code.set(iframeCode(embedPath(channel.id, number), `${name}: ${widgetTitle(displays[number - 1], channel)}`, 260));
    };
    choose.addEventListener('change', update);
    update();
    return h('div', { class: 'share-widget' },
      h('div', { class: 'field' }, h('label', { for: id }, t('iot.share.widget')), choose), code.element);
  }

  function render() {
    if (!channel.public_flag) {
      body.replaceChildren(h('p', { class: 'muted' }, t('iot.share.private')));
      return;
    }
    const name = channel.name || t('iot.channel.numbered', { id: channel.id });
    const url = publicUrl(channel.id);
    const status = h('p', { class: 'status', role: 'status' });
    const actions = h('div', { class: 'actions' },
      h('a', { class: 'button small', href: `#${publicPath(channel.id)}` }, t('iot.share.open')));
    if (typeof navigator.share === 'function') {
      const share = h('button', { type: 'button', class: 'button small' }, t('iot.share.share'));
      share.addEventListener('click', () => {
        navigator.share({ title: name, url }).catch((err) => {
          if (err && err.name !== 'AbortError') status.textContent = t('iot.share.share_failed');
        });
      });
      actions.append(share);
    }
    body.replaceChildren(
      h('p', { class: 'muted' }, t('iot.share.about')),
      copyable({ label: t('iot.share.url'), value: url }).element,
      actions, status,
      h('h3', null, t('iot.share.embed_title')),
      h('p', { class: 'muted' }, t('iot.share.embed_about')),
      copyable({ label: t('iot.share.chart_code'), value: iframeCode(embedPath(channel.id), name, 420), multiline: true }).element,
      widgetPart(name));
  }

  render();
  return {
    element,
    fieldsChanged(updated) {
      channel = updated;
      render();
    },
    widgetsChanged(widgets) {
      displays = widgets.filter((w) => DISPLAY_TYPES.includes(w.type));
      render();
    },
  };
}
