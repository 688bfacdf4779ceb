// The message list as one Tab stop: the current message is focusable (tabindex 0), the others are not (-1),
// and arrow keys, Home and End move between messages; only the current message's own buttons are in the Tab
// order. Day separators ("Today", "12 March") go between messages of different days.

import { h } from '../core/dom.js';
import { formatDateTime, t } from '../core/i18n.js';

const FOCUSABLE = 'button, a[href], input, textarea, select, [tabindex]';

/** Keep the roving focus of `log` (the scrolling box holding the message lists). Returns {update, focus}. */
export function rovingMessages(log) {
  let current = null; // the <li> that takes the Tab stop

  const items = () => [...log.querySelectorAll('li.message')];

  function setCurrent(li) {
    current = li;
    for (const item of items()) {
      const on = item === li;
      item.tabIndex = on ? 0 : -1;
      for (const inner of item.querySelectorAll(FOCUSABLE)) inner.tabIndex = on ? 0 : -1;
    }
  }

  /** After a render: keep the current message if it is still there, else take the last one. */
  function update() {
    const all = items();
    if (!all.length) {
      current = null;
      return;
    }
    const keep = current && all.includes(current) ? current : all[all.length - 1];
    setCurrent(keep);
  }

  function move(li) {
    if (!li) return;
    setCurrent(li);
    li.focus();
    li.scrollIntoView({ block: 'nearest' });
  }

  log.addEventListener('keydown', (event) => {
    const li = event.target.closest?.('li.message');
    if (!li || event.altKey || event.ctrlKey || event.metaKey) return;
    const all = items();
    const at = all.indexOf(li);
    const onItem = event.target === li;
    let next = null;
    if (event.key === 'ArrowDown' || (onItem && event.key === 'ArrowRight')) next = all[at + 1];
    else if (event.key === 'ArrowUp' || (onItem && event.key === 'ArrowLeft')) next = all[at - 1];
    else if (event.key === 'Home' && onItem) next = all[0];
    else if (event.key === 'End' && onItem) next = all[all.length - 1];
    else if (event.key === 'Escape' && !onItem) next = li;
    else return;
    event.preventDefault();
    move(next || li);
  });
  log.addEventListener('focusin', (event) => {
    const li = event.target.closest?.('li.message');
    if (li && li !== current) setCurrent(li);
  });

  return {
    update,
    /** Focus the current message (the skip link's target), or `li` when given. */
    focus(li) {
      update();
      if (li) setCurrent(li);
      if (current) current.focus();
      return current;
    },
    target: () => current || log,
  };
}

function dayKey(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function dayLabel(seconds) {
  const today = new Date();
  const yesterday = new Date(Date.now() - 86_400_000);
  const key = dayKey(seconds);
  if (key === dayKey(today.getTime() / 1000)) return t('chat.day.today');
  if (key === dayKey(yesterday.getTime() / 1000)) return t('chat.day.yesterday');
  return formatDateTime(seconds, 'date');
}

/** Take the separators out (before a render moves messages: a moved element would lose the focus). */
export function clearDays(list) {
  for (const old of list.querySelectorAll(':scope > li.day-separator')) old.remove();
}

/** Put a separator before the first message of each day in `list` (messages carry data-created-at). */
export function markDays(list) {
  clearDays(list);
  let previous = null;
  for (const li of [...list.children]) {
    const at = Number(li.dataset.createdAt);
    if (!Number.isFinite(at) || !at) continue;
    const key = dayKey(at);
    if (key !== previous) {
      li.before(h('li', { class: 'day-separator' }, h('span', null, dayLabel(at))));
    }
    previous = key;
  }
}
