// One TalkBack (#/talkback?id=N): its key and the request a device makes, its queue in order (add a command, at the
// end or at a place; move one up or down; delete), and the commands devices executed, with their times.

import { api, ApiError } from '../core/api.js';
import { card, describeError, errorNotice, h, isAbort, uid, wideScreen } from '../core/dom.js';
import { formatDateTime, t, tn } from '../core/i18n.js';
import { copyable } from './channel-keys.js';
import { logChannelSelect, talkbackPath } from './talkbacks.js';

const EXECUTED_PAGE = 20;

export function talkbackView({ params, signal, navigate }) {
  const id = params.get('id') || '';
  const section = wideScreen(t('iot.talkback.title'));
  const title = section.querySelector('h1');
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('iot.talkbacks.loading')));
  section.append(h('p', { class: 'links' }, h('a', { href: '#/talkbacks' }, t('iot.talkback.all'))), body);
  if (!/^\d{1,18}$/.test(id)) {
    body.removeAttribute('aria-busy');
    body.replaceChildren(h('p', { class: 'notice error' }, t('iot.talkback.not_found')));
    return section;
  }
  Promise.all([api.get(`${talkbackPath(id)}.json`, { signal }), api.get('/channels.json', { signal })]).then(([tb, channels]) => {
    if (signal.aborted) return;
    title.textContent = tb.name || `#${tb.id}`;
    document.title = t('core.page_title', { title: title.textContent, app: 'Realtime' });
    body.removeAttribute('aria-busy');
    const executed = executedCard(tb, signal);
    const queue = queueCard(tb, signal, () => executed.reload());
    body.replaceChildren(queue.element, executed.element, keyCard(tb, channels, navigate));
  }, (err) => {
    if (signal.aborted || isAbort(err)) return;
    body.removeAttribute('aria-busy');
    body.replaceChildren(err instanceof ApiError && (err.status === 404 || err.status === 401)
      ? h('p', { class: 'notice error' }, t('iot.talkback.not_found')) : errorNotice(err));
  });
  return section;
}

function queueCard(tb, signal, onRefresh) {
  const { element, heading } = card(t('iot.talkback.queue'));
  const list = h('ol', { class: 'command-list' });
  const status = h('p', { class: 'status', role: 'status' });
  const refresh = h('button', { type: 'button', class: 'button small' }, t('iot.talkback.refresh'));
  let commands = [];

  async function load(focusIndex = null, focusButton = 0) {
    try {
      commands = await api.get(`${talkbackPath(tb.id)}/commands.json`, { signal });
    } catch (err) {
      if (!isAbort(err)) status.textContent = describeError(err) || '';
      return;
    }
    render();
    if (focusIndex !== null) {
      const item = list.children[Math.min(focusIndex, list.children.length - 1)];
      const buttons = item ? [...item.querySelectorAll('button:not([disabled])')] : [];
      (buttons[focusButton] || buttons[0] || heading).focus();
    }
  }

  async function change(action, focusIndex, focusButton) {
    status.textContent = '';
    try {
      await action();
    } catch (err) {
      status.textContent = describeError(err) || '';
    }
    await load(focusIndex, focusButton);
  }

  function render() {
    if (!commands.length) {
      list.replaceChildren(h('li', { class: 'muted' }, t('iot.talkback.empty')));
      return;
    }
    list.replaceChildren(...commands.map((c, i) => {
      const label = (text) => `${text}: ${c.command_string}`;
      const move = (position) => () => api.put(`${talkbackPath(tb.id)}/commands/${c.id}.json`, { position });
      const up = h('button', { type: 'button', class: 'button small', 'aria-label': label(t('iot.talkback.up')), disabled: i === 0 }, '↑');
      const down = h('button', { type: 'button', class: 'button small', 'aria-label': label(t('iot.talkback.down')), disabled: i === commands.length - 1 }, '↓');
      const remove = h('button', { type: 'button', class: 'button small danger', 'aria-label': label(t('iot.talkback.delete')) }, t('iot.talkback.delete'));
      // Up: to the place of the one before (which moves down); down: just after the one after.
      up.addEventListener('click', () => change(move(commands[i - 1]?.position), i - 1, 0));
      down.addEventListener('click', () => change(move((commands[i + 1]?.position || 0) + 1), i + 1, 1));
      remove.addEventListener('click', () => change(() => api.delete(`${talkbackPath(tb.id)}/commands/${c.id}.json`), i, 0));
      return h('li', { class: 'command-item', 'data-command': String(c.id) },
        h('span', { class: 'command-place muted' }, `${i + 1}.`),
        h('code', { class: 'command-text' }, c.command_string),
        h('span', { class: 'editor-buttons' }, up, down, remove));
    }));
  }

  refresh.addEventListener('click', () => {
    load();
    onRefresh();
  });
  element.append(h('div', { class: 'card-actions' }, refresh), list, status, addForm(tb, () => load()));
  load();
  return { element };
}

function addForm(tb, onAdded) {
  const make = (name, label, attrs) => {
    const id = uid(`command-${name}`);
    const input = h('input', { id, name, autocomplete: 'off', 'aria-describedby': `${id}-error ${id}-hint`, ...attrs });
    const error = h('p', { id: `${id}-error`, class: 'field-error', 'aria-live': 'polite' });
    return { name, input, error, wrap: h('div', { class: 'field' }, h('label', { for: id }, label), h('p', { id: `${id}-hint`, class: 'field-hint' }, t(`iot.talkback.${name}_hint`)), input, error) };
  };
  const text = make('command_string', t('iot.talkback.command'), { type: 'text', maxlength: 255 });
  const position = make('position', t('iot.talkback.position'), { type: 'text', inputmode: 'numeric' });
  const formError = h('div', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'button primary' }, t('iot.talkback.add'));
  const form = h('form', { class: 'stack command-form', novalidate: true }, h('h3', null, t('iot.talkback.add_title')),
    formError, h('div', { class: 'field-grid' }, text.wrap, position.wrap), h('div', { class: 'actions' }, submit));
  const clear = () => {
    formError.replaceChildren();
    for (const f of [text, position]) {
      f.error.textContent = '';
      f.input.removeAttribute('aria-invalid');
    }
  };
  const fail = (f, message) => {
    f.error.textContent = message;
    f.input.setAttribute('aria-invalid', 'true');
    f.input.focus();
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear();
    if (!text.input.value) {
      fail(text, t('iot.talkback.command_required'));
      return;
    }
    const body = { command_string: text.input.value };
    if (position.input.value.trim()) body.position = position.input.value.trim();
    submit.disabled = true;
    try {
      await api.post(`${talkbackPath(tb.id)}/commands.json`, body);
      text.input.value = '';
      position.input.value = '';
      await onAdded();
      text.input.focus();
    } catch (err) {
      const target = err instanceof ApiError ? [text, position].find((f) => f.name === err.field) : null;
      if (target) fail(target, describeError(err));
      else formError.replaceChildren(h('p', null, describeError(err) || ''));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function executedCard(tb, signal) {
  const { element } = card(t('iot.talkback.executed'));
  const list = h('ol', { class: 'command-list executed-list' });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', class: 'button small', hidden: true }, t('iot.talkback.more'));
  let cursor = null;
  async function load(reset) {
    if (reset) cursor = null;
    const query = new URLSearchParams({ limit: String(EXECUTED_PAGE) });
    if (cursor) query.set('cursor', cursor);
    try {
      const page = await api.get(`/api/talkbacks/${encodeURIComponent(tb.id)}/executed?${query}`, { signal });
      const items = page.commands.map((c) => h('li', { class: 'command-item' },
        h('time', { class: 'muted', datetime: new Date(c.executed_at * 1000).toISOString() }, formatDateTime(c.executed_at)),
        h('code', { class: 'command-text' }, c.command_string)));
      if (reset) list.replaceChildren(...items);
      else list.append(...items);
      cursor = page.next;
      more.hidden = !cursor;
      status.textContent = list.children.length ? tn('iot.talkback.executed_count', list.children.length) : t('iot.talkback.none_executed');
    } catch (err) {
      if (!isAbort(err)) status.textContent = describeError(err) || '';
    }
  }
  more.addEventListener('click', () => load(false));
  element.append(h('p', { class: 'muted' }, t('iot.talkback.executed_about')), status, list, h('div', { class: 'actions' }, more));
  load(true);
  return { element, reload: () => load(true) };
}

function keyCard(tb, channels, navigate) {
  const { element } = card(t('iot.talkback.device'));
  const example = `curl -X POST "${location.origin}/talkbacks/${tb.id}/commands/execute?api_key=${tb.api_key}"`;
  const log = logChannelSelect(channels, tb.channel_id);
  const status = h('p', { class: 'status', role: 'status' });
  log.select.addEventListener('change', async () => {
    try {
      await api.put(`${talkbackPath(tb.id)}.json`, { channel_id: log.select.value ? Number(log.select.value) : '' });
      status.textContent = t('iot.talkback.saved');
    } catch (err) {
      status.textContent = describeError(err) || '';
    }
  });
  const remove = h('button', { type: 'button', class: 'button small danger' }, t('iot.talkback.delete_talkback'));
  remove.addEventListener('click', async () => {
    if (!window.confirm(t('iot.talkback.delete_confirm', { name: tb.name }))) return;
    try {
      await api.delete(`${talkbackPath(tb.id)}.json`);
      navigate('/talkbacks');
    } catch (err) {
      status.textContent = describeError(err) || '';
    }
  });
  element.append(
    copyable({ label: t('iot.talkback.key'), value: tb.api_key, hint: t('iot.talkback.key_hint') }).element,
    copyable({ label: t('iot.talkback.example'), value: example, multiline: true }).element,
    log.wrap, status, h('div', { class: 'actions' }, remove));
  return element;
}
