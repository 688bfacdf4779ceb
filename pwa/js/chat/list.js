// The chat list pane: the user's chats (pinned first, unread counts, archived ones on request), a search over
// chat names and over the messages held on this device, and this device's chat settings. It stands alone on
// the Chats screen and beside the open conversation on a wide screen (chat/layout.js).

import { describeError, h, isAbort, uid } from '../core/dom.js';
import { t, tn } from '../core/i18n.js';
import { chatPath, connectionNotice, initials, myIdControl, shortTime } from './chats.js';
import { notificationsControl } from './push.js';
import { searchMessages } from './search.js';
import { chatList, chatsReady, chatTitle, loadChats, myId, nameOf, previewOf, subscribe, whoAmI } from './store.js';

let keptScroll = 0; // the list's scroll position, kept when a chat is opened beside it

/**
 * The pane. `activeId`: the open conversation (marked in the list); `level`: 1 on the Chats screen, 2 beside a
 * conversation (whose title is the page's heading).
 */
export function chatListPane({ signal, activeId = null, level = 1 }) {
  const headingId = uid('chats');
  const searchId = uid('chat-search');
  const heading = h(`h${level}`, { id: headingId, class: 'list-title' }, t('chat.list.title'));
  const search = h('input', {
    id: searchId, type: 'search', class: 'chat-search', autocomplete: 'off', spellcheck: 'false',
    placeholder: t('chat.search.placeholder'),
  });
  const showArchived = h('button', { type: 'button', class: 'button small', 'aria-pressed': 'false' });
  const list = h('ul', { class: 'chat-list' });
  const body = h('div', { class: 'chat-list-body', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('chat.list.loading')));
  const found = h('div', { class: 'message-results', hidden: true });
  const settings = h('details', { class: 'device-settings' },
    h('summary', null, t('chat.list.device')), notificationsControl());
  const pane = h('section', { class: 'chat-list-pane', 'aria-labelledby': headingId },
    h('div', { class: 'list-head' }, heading,
      h('a', { class: 'button primary small', href: '#/chats/new' }, t('chat.list.new'))),
    activeId ? null : connectionNotice(signal), // beside a conversation, the conversation's says it
    h('div', { class: 'search-row', role: 'search' },
      h('label', { for: searchId, class: 'visually-hidden' }, t('chat.search.label')), search),
    body, found, h('p', { class: 'list-tools' }, showArchived), settings);
  let archived = false;
  let drawn = new Map(); // chat id -> its row in the list

  function matches(chat, query) {
    if (!query) return true;
    const text = `${chatTitle(chat)} ${chat.last_message ? previewOf(chat.last_message) : ''}`.toLowerCase();
    return text.includes(query);
  }

  function render() {
    if (!chatsReady()) return;
    body.removeAttribute('aria-busy');
    const query = search.value.trim().toLowerCase();
    const all = chatList();
    const archivedCount = all.filter((chat) => chat.me?.archived).length;
    const shown = all.filter((chat) => (query ? true : Boolean(chat.me?.archived) === archived) && matches(chat, query));
    showArchived.textContent = archived ? t('chat.list.back') : tn('chat.list.archived', archivedCount);
    showArchived.hidden = Boolean(query) || (!archived && archivedCount === 0);
    list.setAttribute('aria-label', archived && !query ? t('chat.list.archived_label') : t('chat.list.title'));
    renderFound(query);
    if (!shown.length) {
      let empty = t('chat.list.empty');
      if (query) empty = t('chat.search.no_chats');
      else if (archived) empty = t('chat.list.no_archived');
      else if (archivedCount) empty = t('chat.list.all_archived');
      body.replaceChildren(h('p', { class: 'muted' }, empty));
      return;
    }
    // A row that would look the same stays the same element, and stays in place unless the order changed: the
    // list is redrawn on every chat's news, and a row replaced between a press and its release (a tap) would
    // swallow the click, or take away the keyboard's focus.
    const rows = shown.map((chat) => {
      const fresh = chatItem(chat, chat.id === activeId);
      const old = drawn.get(chat.id);
      return old && old.isEqualNode(fresh) ? old : fresh;
    });
    drawn = new Map(shown.map((chat, i) => [chat.id, rows[i]]));
    const kept = new Set(rows);
    const dropStale = (node) => { // the rows from `node` on that are no longer shown go; returns the next kept one
      while (node && !kept.has(node)) {
        const next = node.nextSibling;
        node.remove();
        node = next;
      }
      return node;
    };
    let at = dropStale(list.firstChild);
    for (const row of rows) {
      if (row === at) at = dropStale(at.nextSibling);
      else list.insertBefore(row, at);
    }
    dropStale(at);
    if (list.parentNode !== body) body.replaceChildren(list);
  }

  function renderFound(query) {
    found.hidden = !query;
    if (!query) return;
    const hits = searchMessages(query, 30);
    const note = h('p', { class: 'field-hint' }, t('chat.search.local_note'));
    const items = hits.map(({ chat, message }) => h('li', null,
      h('a', { class: 'result-link', href: `#${chatPath(chat.id)}&message=${message.id}` },
        h('span', { class: 'result-top' }, h('strong', null, chatTitle(chat)),
          chat.kind === 'group' ? ` · ${nameOf(message.sender_id)}` : null,
          h('span', { class: 'chat-item-time' }, shortTime(message.created_at))),
        h('span', { class: 'result-text' }, previewOf(message)))));
    found.replaceChildren(h('h3', { class: 'results-title' }, t('chat.search.messages')), note,
      items.length ? h('ul', { class: 'results' }, items) : h('p', { class: 'muted' }, t('chat.search.no_messages')));
  }

  showArchived.addEventListener('click', () => {
    archived = !archived;
    showArchived.setAttribute('aria-pressed', String(archived));
    render();
  });
  search.addEventListener('input', () => render());
  search.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && search.value) {
      search.value = '';
      render();
    }
  });

  let frame = 0;
  const stop = subscribe((change) => {
    if (!['chats', 'resync', 'presence', 'messages'].includes(change.kind)) return;
    if (change.kind === 'messages' && !search.value.trim()) return;
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  });
  pane.addEventListener('scroll', () => { keptScroll = pane.scrollTop; }, { passive: true });
  signal.addEventListener('abort', () => { stop(); cancelAnimationFrame(frame); }, { once: true });

  const load = () => whoAmI({ signal }).then(() => (chatsReady() && activeId ? null : loadChats()));
  if (chatsReady()) {
    render();
    requestAnimationFrame(() => { if (activeId) pane.scrollTop = keptScroll; });
  }
  load().then(render, (err) => {
    if (signal.aborted || isAbort(err)) return;
    if (chatsReady()) { render(); return; } // the chats kept on this device stay; the sync brings the rest
    const message = describeError(err);
    body.removeAttribute('aria-busy');
    const retry = h('button', { type: 'button', class: 'button' }, t('chat.list.retry'));
    retry.addEventListener('click', () => {
      body.replaceChildren(h('p', { class: 'muted' }, t('chat.list.loading')));
      loadChats().then(render, (e) => body.replaceChildren(h('p', { class: 'notice error' }, describeError(e)), retry));
    });
    if (message) body.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, message), retry);
  });
  whoAmI({ signal }).then((id) => settings.append(myIdControl(id)), () => {});
  return { element: pane, focusTarget: () => search };
}

function flag(icon, label) {
  return h('span', { class: 'chat-flag', title: label }, h('span', { 'aria-hidden': 'true' }, icon),
    h('span', { class: 'visually-hidden' }, `, ${label}`));
}

function chatItem(chat, active) {
  const title = chatTitle(chat);
  const last = chat.last_message;
  let preview = t('chat.list.no_messages');
  if (last) {
    let who = '';
    if (last.sender_id === myId()) who = t('chat.list.you_prefix');
    else if (chat.kind === 'group' && last.sender_id) who = `${nameOf(last.sender_id)}: `;
    preview = `${who}${previewOf(last)}`;
  }
  const unread = chat.unread || 0;
  const muted = chat.me?.muted_until && chat.me.muted_until * 1000 > Date.now();
  return h('li', { class: unread ? 'chat-item has-unread' : 'chat-item' },
    h('a', {
      class: 'chat-link', href: `#${chatPath(chat.id)}`, 'data-chat-id': chat.id, 'aria-current': active ? 'page' : null,
    },
    h('span', { class: chat.kind === 'group' ? 'avatar group' : 'avatar', 'aria-hidden': 'true' }, initials(title)),
    h('span', { class: 'chat-item-body' },
      h('span', { class: 'chat-item-top' },
        h('span', { class: 'chat-item-title' }, title),
        chat.e2e ? flag('🔒', t('chat.list.e2e')) : null, // two chats with one person read apart
        chat.me?.pinned_at ? flag('📌', t('chat.list.pinned')) : null,
        muted ? flag('🔕', t('chat.list.muted')) : null,
        h('span', { class: 'chat-item-time' }, shortTime(chat.last_message_at || chat.created_at))),
      h('span', { class: 'chat-item-bottom' },
        h('span', { class: 'chat-item-preview' }, preview),
        unread ? h('span', { class: 'unread-badge' }, String(unread),
          h('span', { class: 'visually-hidden' }, ` ${tn('chat.list.unread', unread)}`)) : null))));
}
