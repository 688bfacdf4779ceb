// A conversation: the history (older pages load on scrolling up), live messages, receipts, typing and
// presence. The composer (chat/composer.js), the Options menu (chat/chat-options.js), the message list's
// keyboard (chat/log-keys.js) and the dialogs of the group, a person and a message's actions are its parts.

import { ApiError } from '../core/api.js';
import { describeError, h, isAbort, relativeTime, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { messageElement, pendingElement } from './bubbles.js';
import { chatOptions } from './chat-options.js';
import { connectionNotice } from './chats.js';
import { createComposer } from './composer.js';
import { buildHeaderParts } from './extend.js';
import { fitReader, groupInfoDialog, groupSubtitle } from './group-info.js';
import { chatLayout } from './layout.js';
import { clearDays, markDays, rovingMessages } from './log-keys.js';
import { forwardDialog, readersDialog, reportDialog } from './message-dialogs.js';
import { deleteMessage, react } from './messages.js';
import { discardSend, pendingIn, retrySend } from './outbox.js';
import { confirmBlock, isBlocked, loadBlocks, personDialog } from './person.js';
import { openSealedChat, sealedNotice } from './sealed.js';
import { followPresence, presenceOf } from './presence.js';
import { deliveredPointer, loadReaders, markRead, readPointer } from './receipts.js';
import {
  chatTitle, getChat, history, loadChat, loadHistory, membersOf, messagesOf, nameOf, otherMember, previewOf,
  subscribe, whoAmI,
} from './store.js';
import { typingIn } from './typing.js';

const NEAR_BOTTOM_PX = 80;

/** The conversation screen: the conversation, beside the chat list on a wide screen (chat/layout.js). */
export function chatView(context) {
  const chatId = context.params.get('id') || '';
  return chatLayout({ signal: context.signal, openChatId: chatId, main: conversationPane(context) });
}

function conversationPane({ params, signal, navigate }) {
  const chatId = params.get('id') || '';
  const wanted = Number(params.get('message')) || 0; // a search result: show this message
  const titleId = uid('title');
  const heading = h('h1', { id: titleId, class: 'chat-title' }, t('chat.v.chat'));
  const subtitle = h('p', { class: 'chat-subtitle' });
  const status = h('p', { class: 'status', role: 'status' });
  const options = chatOptions({ chatId, getChat: () => chat, status, navigate, onContactNamed: () => renderHead() });
  // Other domains' parts (calls: the call buttons, the "join the call" banner), from chat/extend.js.
  const parts = buildHeaderParts({ chatId, signal });
  const info = h('button', { type: 'button', class: 'chat-info', disabled: true, 'aria-label': t('chat.info.open') },
    h('span', { 'aria-hidden': 'true' }, 'i'));
  info.addEventListener('click', () => {
    if (!chat) return;
    if (chat.kind === 'group') groupInfoDialog(chatId, { onStatus: say, signal });
    else if (otherMember(chat)) personDialog(otherMember(chat), chatId, { onDone: say });
  });
  const head = h('div', { class: 'chat-head' },
    h('a', { class: 'back', href: '#/chats', 'aria-label': t('chat.back') }, '←'),
    h('div', { class: 'chat-head-text' }, heading, subtitle),
    parts.map((part) => part.actions), info, options.button);

  const older = h('button', { type: 'button', class: 'button small older', hidden: true }, t('chat.v.older'));
  const list = h('ol', { class: 'messages' });
  const pending = h('ol', { class: 'messages pending-list' });
  const empty = h('p', { class: 'muted empty-chat', hidden: true }, t('chat.v.empty'));
  const log = h('div', { class: 'chat-log', role: 'log', 'aria-label': t('chat.log.label'), 'aria-busy': 'true' },
    older, empty, list, pending);
  const keys = rovingMessages(log);
  const jump = h('button', { type: 'button', class: 'button small jump', hidden: true }, t('chat.v.jump'));
  const typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
  const readOnly = h('p', { class: 'muted read-only-line', hidden: true }, t('chat.v.only_admins_post'));
  const composer = createComposer({
    chatId, signal, status, canSend: () => !gone && Boolean(chat), run, scrollToBottom, isE2e: () => Boolean(chat?.e2e),
  });
  const section = h('section', { class: 'screen chat-screen', 'aria-labelledby': titleId },
    head, options.menu, parts.map((part) => part.banner), connectionNotice(signal),
    h('div', { class: 'chat-body' }, log, jump), typingLine, status, composer.form, readOnly);

  let me = null;
  let chat = null;
  let panel = null; // {id, kind: 'menu' | 'delete'} of the message whose actions are open
  let gone = false;
  let stopPresence = null;
  let asked = 0; // the own message whose readers were asked for
  const elements = new Map(); // message id -> {li, sig}
  const visible = new Set();

  // -- messages ------------------------------------------------------------------------------------

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const id = Number(entry.target.dataset.messageId);
      if (entry.isIntersecting) visible.add(id);
      else visible.delete(id);
    }
    markVisibleRead();
  }, { root: log, threshold: 0.5 });

  const topWatcher = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadOlder();
  }, { root: log });
  topWatcher.observe(older);

  function markVisibleRead() {
    if (!visible.size || document.visibilityState !== 'visible' || !chat) return;
    markRead(chatId, Math.max(...visible));
  }

  function say(text) {
    status.textContent = text || '';
  }
  function others() {
    if (!chat) return [];
    if (chat.kind === 'direct') return otherMember(chat) ? [otherMember(chat)] : [];
    return (membersOf(chatId) || []).map((m) => m.user_id).filter((id) => id !== me);
  }

  function isRead(message) {
    return others().some((id) => readPointer(chatId, id) >= message.id);
  }

  /** 'read' once someone else read it, 'delivered' once it reached someone else's device, else 'sent'. */
  function receiptOf(message) {
    if (isRead(message)) return 'read';
    return others().some((id) => deliveredPointer(chatId, id) >= message.id) ? 'delivered' : 'sent';
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    log.scrollTop = log.scrollHeight;
    jump.hidden = true;
  }

  const actions = {
    toggle(message, kind) {
      panel = kind ? { id: message.id, kind } : null;
      renderMessages();
      const li = elements.get(message.id)?.li;
      const target = kind ? li?.querySelector('.message-actions button') : li?.querySelector('.more');
      if (target) target.focus();
    },
    reply(message) {
      panel = null;
      composer.reply(message);
      renderMessages();
      composer.focus();
    },
    edit(message) {
      panel = null;
      composer.edit(message);
      renderMessages();
      composer.focus();
    },
    react(message, emoji, on) {
      panel = null;
      run(react(chatId, message.id, emoji, on));
    },
    remove(message, forEveryone) {
      panel = null;
      run(deleteMessage(chatId, message.id, forEveryone).then(() => {
        status.textContent = forEveryone ? t('chat.v.deleted_all') : t('chat.v.deleted_mine');
      }));
    },
    forward: (message) => closePanel(() => forwardDialog(chatId, message, { onDone: say })),
    readers: (message) => closePanel(() => readersDialog(chatId, message)),
    report: (message) => closePanel(() => reportDialog(chatId, message, { onDone: say })),
    block: (userId) => closePanel(() => confirmBlock(userId, { onDone: say })),
    retry: (entry) => retrySend(entry.client_id),
    discard: (entry) => discardSend(entry.client_id),
  };

  /** Close the message's actions, then open a dialog (which gives the focus back to the message when it closes). */
  function closePanel(open) {
    const li = panel ? elements.get(panel.id)?.li : null;
    panel = null;
    renderMessages();
    const more = li && elements.get(Number(li.dataset.messageId))?.li.querySelector('.more');
    if (more) more.focus();
    open();
  }

  function run(promise) {
    status.textContent = '';
    promise.catch((err) => {
      status.textContent = describeError(err) || '';
    });
    renderMessages();
  }

  function renderMessages() {
    if (!chat) return;
    const stick = nearBottom();
    const messages = messagesOf(chatId).filter((m) => !m.silent); // end-to-end reactions show on their targets
    const ids = new Set(messages.map((m) => m.id));
    for (const [id, { li }] of elements) {
      if (!ids.has(id)) {
        observer.unobserve(li);
        visible.delete(id);
        li.remove();
        elements.delete(id);
      }
    }
    clearDays(list);
    let cursor = list.firstChild;
    let added = false;
    for (const message of messages) {
      const view = {
        me, receipt: message.sender_id === me ? receiptOf(message) : null, panel: panel?.id === message.id ? panel.kind : null,
        canModerate: chat.kind === 'group' && ['admin', 'owner'].includes(chat.me?.role),
        group: chat.kind === 'group', blocked: isBlocked(message.sender_id),
      };
      const sig = JSON.stringify([message, view.receipt, view.panel, view.blocked, nameOf(message.sender_id), sealedNotice(message),
        message.reply_to ? previewOf(history(chatId)?.byId.get(message.reply_to)) : null]);
      let known = elements.get(message.id);
      if (!known || known.sig !== sig) {
        const li = messageElement(chat, message, view, actions);
        if (known) {
          observer.unobserve(known.li);
          known.li.replaceWith(li);
          if (cursor === known.li) cursor = li;
        } else {
          added = true;
        }
        known = { li, sig };
        elements.set(message.id, known);
        observer.observe(li);
      }
      if (known.li !== cursor) list.insertBefore(known.li, cursor);
      else cursor = cursor.nextSibling;
    }
    pending.replaceChildren(...pendingIn(chatId).map((entry) => pendingElement(chat, entry, actions)));
    const record = history(chatId);
    older.hidden = !record || !record.hasMore;
    empty.hidden = Boolean(messages.length || pending.children.length) || !record?.loaded;
    markDays(list);
    keys.update();
    if (stick) scrollToBottom();
    else if (added) jump.hidden = false;
    askReaders(messages);
  }

  /** Bring a message into view and give it the focus (a search result's target). */
  function showMessage(messageId) {
    const li = elements.get(messageId)?.li;
    if (!li) return false;
    li.scrollIntoView({ block: 'center' });
    li.classList.add('found');
    keys.focus(li);
    return true;
  }

  function askReaders(messages) {
    // Receipts from before this page: ask once who has read my latest message.
    const mine = messages.filter((m) => m.sender_id === me && !m.deleted);
    const latest = mine.length ? mine[mine.length - 1].id : 0;
    if (latest > asked && !isRead(mine[mine.length - 1])) {
      asked = latest;
      loadReaders(chatId, latest).catch(() => {});
    }
  }

  let loadingOlder = false;
  async function loadOlder() {
    const record = history(chatId);
    if (loadingOlder || !record || !record.loaded || !record.hasMore) return;
    loadingOlder = true;
    older.textContent = t('chat.v.loading');
    const fromBottom = log.scrollHeight - log.scrollTop;
    try {
      await loadHistory(chatId, { older: true, signal });
      renderMessages();
      log.scrollTop = log.scrollHeight - fromBottom; // keep the messages in view where they were
    } catch (err) {
      if (!isAbort(err)) status.textContent = describeError(err) || '';
    } finally {
      loadingOlder = false;
      older.textContent = t('chat.v.older');
    }
  }
  older.addEventListener('click', loadOlder);
  jump.addEventListener('click', scrollToBottom);
  log.addEventListener('scroll', () => {
    if (nearBottom()) jump.hidden = true;
  }, { passive: true });

  // -- header: title, presence, typing ---------------------------------------------------------------

  function renderHead() {
    if (!chat) return;
    for (const part of parts) part.update?.(chat);
    const title = chatTitle(chat);
    heading.textContent = title;
    document.title = t('core.page_title', { title, app: 'Realtime' });
    fitReader(chat, composer.form, readOnly, empty);
    if (chat.kind === 'group') {
      subtitle.textContent = groupSubtitle(chat, (membersOf(chatId) || []).length);
      return;
    }
    const state = presenceOf(otherMember(chat));
    if (!state || state.hidden) subtitle.textContent = '';
    else if (state.online) subtitle.textContent = t('chat.v.online');
    else if (state.last_seen_at) subtitle.textContent = t('chat.v.last_seen', { when: relativeTime(state.last_seen_at) });
    else subtitle.textContent = '';
  }

  function renderTyping() {
    const who = typingIn(chatId).map(nameOf);
    if (!who.length) typingLine.textContent = '';
    else if (who.length === 1) typingLine.textContent = t('chat.v.typing_one', { name: who[0] });
    else typingLine.textContent = t('chat.v.typing_many', { names: who.slice(0, -1).join(', '), last: who[who.length - 1] });
  }

  const ticker = setInterval(renderHead, 60_000); // "last seen 5 minutes ago" stays true

  // -- wiring --------------------------------------------------------------------------------------
  let frame = 0;
  function scheduleRender() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; renderMessages(); });
  }

  const stop = subscribe((change) => {
    if (change.kind === 'reset') return; // signed out: the router is leaving this screen
    if (change.kind === 'resync') {
      for (const { li } of elements.values()) observer.unobserve(li);
      elements.clear();
      visible.clear();
      list.replaceChildren();
      loadHistory(chatId, { signal }).catch(() => {});
      return;
    }
    if (change.chatId && change.chatId !== chatId && change.kind !== 'presence') return;
    if (change.kind === 'removed') {
      gone = true;
      composer.disable(t('chat.v.not_member'));
      status.textContent = t('chat.v.not_member');
      return;
    }
    if (change.kind === 'chats') {
      chat = getChat(chatId) || chat;
      renderHead();
      return;
    }
    if (change.kind === 'blocks') scheduleRender();
    else if (change.kind === 'presence') renderHead();
    else if (change.kind === 'typing') renderTyping();
    else scheduleRender(); // a burst of events (a sync replay) renders once
  });

  const onVisible = () => {
    if (document.visibilityState === 'visible') markVisibleRead();
  };
  document.addEventListener('visibilitychange', onVisible);

  signal.addEventListener('abort', () => {
    stop();
    cancelAnimationFrame(frame);
    observer.disconnect();
    topWatcher.disconnect();
    clearInterval(ticker);
    document.removeEventListener('visibilitychange', onVisible);
    if (stopPresence) stopPresence();
  }, { once: true });

  (async () => {
    me = await whoAmI({ signal });
    chat = await loadChat(chatId, { signal });
    info.disabled = false;
    info.setAttribute('aria-label', chat.kind === 'group' ? t('chat.info.group') : t('chat.info.person'));
    info.title = info.getAttribute('aria-label');
    renderHead();
    loadBlocks().then(scheduleRender, () => {});
    if (chat.e2e) openSealedChat(chatId, composer, say, signal); // the end-to-end module: decrypts, encrypts
    if (chat.kind === 'direct' && otherMember(chat)) stopPresence = followPresence([otherMember(chat)]);
    await loadHistory(chatId, { signal });
    log.removeAttribute('aria-busy');
    renderMessages();
    renderTyping();
    scrollToBottom();
    if (wanted) await showWanted();
  })().catch((err) => {
    if (signal.aborted || isAbort(err)) return;
    log.removeAttribute('aria-busy');
    const missing = err instanceof ApiError && err.status === 404;
    section.replaceChildren(head, h('p', { class: 'notice error', role: 'alert' }, missing
      ? t('chat.v.missing')
      : describeError(err) || t('chat.v.failed')),
    h('p', { class: 'links' }, h('a', { href: '#/chats' }, t('chat.v.back'))));
  });

  /** The message a search result points to: older pages load until it is there (or there are none). */
  async function showWanted() {
    for (let pages = 0; !showMessage(wanted) && history(chatId)?.hasMore && pages < 20; pages += 1) {
      await loadHistory(chatId, { older: true, signal });
      renderMessages();
    }
  }

  return { element: section, focusTarget: () => keys.target() };
}
