// A conversation: the history (older pages load on scrolling up), live messages, receipts, typing and
// presence, the composer (Enter sends; replies, edits, attachments) and the chat's options.

import { api, ApiError } from './core/api.js';
import { describeError, h, isAbort, relativeTime, uid } from './core/dom.js';
import { messageElement, pendingElement } from './chat/bubbles.js';
import { connectionNotice } from './chat/chats.js';
import { uploadFile } from './chat/files.js';
import { deleteMessage, editMessage, react } from './chat/messages.js';
import { discardSend, pendingIn, retrySend, sendMessage } from './chat/outbox.js';
import { followPresence, presenceOf } from './chat/presence.js';
import { loadReaders, markRead, readPointer } from './chat/receipts.js';
import {
  changeSettings, chatTitle, getChat, hasContactName, history, loadChat, loadHistory, membersOf, messagesOf, nameOf,
  otherMember, previewOf, setContactName, subscribe, whoAmI,
} from './chat/store.js';
import { sendTyping, typingIn } from './chat/typing.js';

const NEAR_BOTTOM_PX = 80;
const MUTE_SECONDS = 8 * 3600;

/** A paperclip icon (SVG built node by node: no markup parsing, nothing inline for the CSP to refuse). */
function paperclip() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [k, v] of Object.entries({ viewBox: '0 0 24 24', width: '22', height: '22', 'aria-hidden': 'true',
    fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' })) {
    svg.setAttribute(k, v);
  }
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l8-8');
  svg.append(path);
  return svg;
}

export function chatView({ params, signal, navigate }) {
  const chatId = params.get('id') || '';
  const titleId = uid('title');
  const heading = h('h1', { id: titleId, class: 'chat-title' }, 'Chat');
  const subtitle = h('p', { class: 'chat-subtitle' });
  const menuId = uid('chat-menu');
  const menuButton = h('button', {
    type: 'button', class: 'button small', 'aria-expanded': 'false', 'aria-controls': menuId,
  }, 'Options');
  const menu = h('div', { id: menuId, class: 'chat-menu card', hidden: true });
  const head = h('div', { class: 'chat-head' },
    h('a', { class: 'back', href: '#/chats', 'aria-label': 'Back to chats' }, '←'),
    h('div', { class: 'chat-head-text' }, heading, subtitle),
    menuButton);

  const older = h('button', { type: 'button', class: 'button small older', hidden: true }, 'Load earlier messages');
  const list = h('ol', { class: 'messages' });
  const pending = h('ol', { class: 'messages pending-list' });
  const empty = h('p', { class: 'muted empty-chat', hidden: true }, 'No messages yet. Say hello!');
  const log = h('div', { class: 'chat-log', role: 'log', tabindex: '0', 'aria-label': 'Messages', 'aria-busy': 'true' },
    older, empty, list, pending);
  const jump = h('button', { type: 'button', class: 'button small jump', hidden: true }, 'New messages ↓');
  const typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
  const status = h('p', { class: 'status', role: 'status' });
  const composer = buildComposer();

  const section = h('section', { class: 'screen chat-screen', 'aria-labelledby': titleId },
    head, menu, connectionNotice(signal), h('div', { class: 'chat-body' }, log, jump), typingLine, status, composer.form);

  let me = null;
  let chat = null;
  let panel = null; // {id, kind: 'menu' | 'delete'} of the message whose actions are open
  let replyTo = null;
  let editing = null;
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

  function isRead(message) {
    if (!chat) return false;
    if (chat.kind === 'direct') {
      const other = otherMember(chat);
      return Boolean(other) && readPointer(chatId, other) >= message.id;
    }
    const others = (membersOf(chatId) || []).map((m) => m.user_id).filter((id) => id !== me);
    return others.some((id) => readPointer(chatId, id) >= message.id);
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
      editing = null;
      replyTo = message;
      composer.showContext();
      renderMessages();
      composer.focus();
    },
    edit(message) {
      panel = null;
      replyTo = null;
      editing = message;
      composer.setText(message.text || '');
      composer.showContext();
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
        status.textContent = forEveryone ? 'Message deleted for everyone.' : 'Message deleted for you.';
      }));
    },
    retry: (entry) => retrySend(entry.client_id),
    discard: (entry) => discardSend(entry.client_id),
  };

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
    const messages = messagesOf(chatId);
    const ids = new Set(messages.map((m) => m.id));
    for (const [id, { li }] of elements) {
      if (!ids.has(id)) {
        observer.unobserve(li);
        visible.delete(id);
        li.remove();
        elements.delete(id);
      }
    }
    let cursor = list.firstChild;
    let added = false;
    for (const message of messages) {
      const view = { me, read: message.sender_id === me && isRead(message), panel: panel?.id === message.id ? panel.kind : null,
        canModerate: chat.kind === 'group' && ['admin', 'owner'].includes(chat.me?.role) };
      const sig = JSON.stringify([message, view.read, view.panel, nameOf(message.sender_id),
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
    if (stick) scrollToBottom();
    else if (added) jump.hidden = false;
    askReaders(messages);
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
    older.textContent = 'Loading…';
    const fromBottom = log.scrollHeight - log.scrollTop;
    try {
      await loadHistory(chatId, { older: true, signal });
      renderMessages();
      log.scrollTop = log.scrollHeight - fromBottom; // keep the messages in view where they were
    } catch (err) {
      if (!isAbort(err)) status.textContent = describeError(err) || '';
    } finally {
      loadingOlder = false;
      older.textContent = 'Load earlier messages';
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
    const title = chatTitle(chat);
    heading.textContent = title;
    document.title = `${title} · Realtime`;
    if (chat.kind === 'group') {
      const count = (membersOf(chatId) || []).length;
      subtitle.textContent = count ? `${count} ${count === 1 ? 'member' : 'members'}` : 'Group';
      return;
    }
    const state = presenceOf(otherMember(chat));
    if (!state || state.hidden) subtitle.textContent = '';
    else if (state.online) subtitle.textContent = 'online';
    else if (state.last_seen_at) subtitle.textContent = `last seen ${relativeTime(state.last_seen_at)}`;
    else subtitle.textContent = '';
  }

  function renderTyping() {
    const who = typingIn(chatId).map(nameOf);
    if (!who.length) typingLine.textContent = '';
    else if (who.length === 1) typingLine.textContent = `${who[0]} is typing…`;
    else typingLine.textContent = `${who.slice(0, -1).join(', ')} and ${who[who.length - 1]} are typing…`;
  }

  const ticker = setInterval(renderHead, 60_000); // "last seen 5 minutes ago" stays true

  // -- the options menu ----------------------------------------------------------------------------

  function setMenu(open) {
    menu.hidden = !open;
    menuButton.setAttribute('aria-expanded', String(open));
    if (open) {
      renderMenu();
      menu.querySelector('button, input')?.focus();
    }
  }
  menuButton.addEventListener('click', () => setMenu(menu.hidden));
  menu.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      setMenu(false);
      menuButton.focus();
    }
  });

  function menuAction(label, work, attrs = {}, { keepOpen = false } = {}) {
    const button = h('button', { type: 'button', class: 'button small', ...attrs }, label);
    button.addEventListener('click', async () => {
      button.disabled = true;
      status.textContent = '';
      try {
        const message = await work();
        if (typeof message === 'string') status.textContent = message;
        if (keepOpen) button.disabled = false;
        else setMenu(false);
      } catch (err) {
        status.textContent = describeError(err) || '';
        button.disabled = false;
      }
    });
    return button;
  }

  function renderMenu() {
    if (!chat) return;
    const settings = chat.me || {};
    const muted = settings.muted_until && settings.muted_until * 1000 > Date.now();
    const items = [
      menuAction(settings.pinned_at ? 'Unpin' : 'Pin to top', () => changeSettings(chatId, { pinned: !settings.pinned_at })
        .then(() => (settings.pinned_at ? 'Unpinned.' : 'Pinned to the top of your chats.'))),
      menuAction(settings.archived ? 'Unarchive' : 'Archive', () => changeSettings(chatId, { archived: !settings.archived })
        .then(() => (settings.archived ? 'Back in your chats.' : 'Archived: find it under “Archived”.'))),
      menuAction(muted ? 'Unmute' : 'Mute for 8 hours', () => changeSettings(chatId, {
        muted_until: muted ? null : Date.now() / 1000 + MUTE_SECONDS,
      }).then(() => (muted ? 'Notifications on.' : 'Muted for 8 hours.'))),
    ];
    const extra = [];
    if (chat.kind === 'direct' && otherMember(chat)) extra.push(contactNameForm(otherMember(chat)));
    if (chat.kind === 'group') {
      const invite = h('div', { class: 'invite-result' });
      items.push(menuAction('Invite link', async () => {
        const made = await api.post(`/api/chats/${encodeURIComponent(chatId)}/invites`, {});
        const id = uid('invite');
        const input = h('input', { id, type: 'text', class: 'mono copy-value', readonly: true, value: made.url });
        invite.replaceChildren(h('label', { for: id }, 'Invite link: anyone with it can join'), input);
        input.focus();
        input.select();
      }, {}, { keepOpen: true }));
      items.push(menuAction('Leave group', async () => {
        await api.post(`/api/chats/${encodeURIComponent(chatId)}/leave`, {});
        navigate('/chats', { replace: true });
      }, { class: 'button small danger' }));
      extra.push(invite);
    }
    menu.replaceChildren(h('div', { class: 'actions' }, items), ...extra);
  }

  function contactNameForm(userId) {
    const id = uid('contact');
    const input = h('input', { id, type: 'text', maxlength: 100, value: hasContactName(userId) ? nameOf(userId) : '' });
    const save = h('button', { type: 'submit', class: 'button small' }, 'Save name');
    const form = h('form', { class: 'contact-form' },
      h('label', { for: id }, 'Their name (only you see it)'), h('div', { class: 'copy-row' }, input, save),
      h('p', { class: 'field-hint' }, `User id: ${userId}`));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      setContactName(userId, input.value);
      status.textContent = 'Name saved on this device.';
      setMenu(false);
      renderHead();
    });
    return form;
  }

  // -- the composer --------------------------------------------------------------------------------

  function buildComposer() {
    const inputId = uid('composer');
    const context = h('div', { class: 'composer-context', hidden: true });
    const files = h('ul', { class: 'composer-files', 'aria-label': 'Attachments to send', hidden: true });
    const text = h('textarea', {
      id: inputId, rows: 1, maxlength: 4000, placeholder: 'Message', autocomplete: 'off', enterkeyhint: 'send',
    });
    const picker = h('input', { type: 'file', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', multiple: true });
    const attach = h('button', { type: 'button', class: 'button attach', 'aria-label': 'Attach files' }, paperclip());
    const send = h('button', { type: 'submit', class: 'button primary send' }, 'Send');
    const form = h('form', { class: 'composer', novalidate: true },
      context, files,
      h('div', { class: 'composer-row' },
        attach, picker,
        h('label', { for: inputId, class: 'visually-hidden' }, 'Message'), text, send));
    const uploads = []; // {file, state: 'uploading'|'done'|'failed', descriptor, chip}

    function resize() {
      text.rows = Math.min(6, Math.max(1, text.value.split('\n').length));
    }

    function showContext() {
      if (editing) {
        context.replaceChildren(
          h('span', null, h('strong', null, 'Editing'), ' ', previewOf(editing)), cancelButton('Cancel editing'));
      } else if (replyTo) {
        context.replaceChildren(h('span', null, 'Replying to ', h('strong', null, nameOf(replyTo.sender_id)), ': ',
          previewOf(replyTo)), cancelButton('Cancel reply'));
      }
      context.hidden = !editing && !replyTo;
      send.textContent = editing ? 'Save' : 'Send';
    }

    function cancelButton(label) {
      const b = h('button', { type: 'button', class: 'button small', 'aria-label': label }, '✕');
      b.addEventListener('click', () => {
        if (editing) text.value = '';
        editing = null;
        replyTo = null;
        showContext();
        resize();
        text.focus();
      });
      return b;
    }

    function renderFiles() {
      files.replaceChildren(...uploads.map((u) => u.chip));
      files.hidden = uploads.length === 0;
    }

    function addFile(file) {
      const upload = { file, state: 'uploading', descriptor: null, chip: null };
      const remove = h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${file.name}` }, '✕');
      const label = h('span', null, `Uploading ${file.name}…`);
      upload.chip = h('li', { class: 'file-chip' }, label, remove);
      remove.addEventListener('click', () => {
        uploads.splice(uploads.indexOf(upload), 1);
        renderFiles();
        text.focus();
      });
      uploads.push(upload);
      renderFiles();
      uploadFile(chatId, file, { signal }).then((descriptor) => {
        upload.state = 'done';
        upload.descriptor = descriptor;
        label.textContent = `📎 ${descriptor.name || file.name}`;
      }, (err) => {
        upload.state = 'failed';
        label.textContent = `${file.name}: ${describeError(err) || 'not uploaded'}`;
        upload.chip.classList.add('failed');
      });
    }

    attach.addEventListener('click', () => picker.click());
    picker.addEventListener('change', () => {
      for (const file of picker.files) addFile(file);
      picker.value = '';
      text.focus();
    });

    text.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === 'Escape' && (editing || replyTo)) {
        editing = null;
        replyTo = null;
        showContext();
      }
    });
    text.addEventListener('input', () => {
      resize();
      if (text.value.trim() && !editing) sendTyping(chatId);
    });

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (gone || !chat) return;
      const value = text.value;
      status.textContent = '';
      if (editing) {
        const target = editing;
        if (!value.trim()) {
          status.textContent = 'A message needs some text. To remove it, delete it instead.';
          return;
        }
        editing = null;
        text.value = '';
        showContext();
        resize();
        if (value !== target.text) run(editMessage(chatId, target.id, value));
        return;
      }
      if (uploads.some((u) => u.state === 'uploading')) {
        status.textContent = 'Wait until the files have finished uploading.';
        return;
      }
      const ready = uploads.filter((u) => u.state === 'done').map((u) => u.descriptor);
      if (!value.trim() && !ready.length) return;
      sendMessage(chatId, { text: value.trim() ? value : '', replyTo: replyTo ? replyTo.id : null, files: ready });
      uploads.length = 0;
      renderFiles();
      replyTo = null;
      text.value = '';
      showContext();
      resize();
      scrollToBottom();
      text.focus();
    });

    return {
      form,
      showContext,
      focus: () => text.focus(),
      setText(value) {
        text.value = value;
        resize();
      },
      disable(reason) {
        for (const el of form.querySelectorAll('textarea, button')) el.disabled = true;
        text.placeholder = reason;
      },
    };
  }

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
      composer.disable('You are no longer a member of this chat.');
      status.textContent = 'You are no longer a member of this chat.';
      return;
    }
    if (change.kind === 'chats') {
      chat = getChat(chatId) || chat;
      renderHead();
      return;
    }
    if (change.kind === 'presence') renderHead();
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
    renderHead();
    if (chat.e2e) composer.disable('End-to-end encrypted chats can be read and written in the mobile app only.');
    if (chat.kind === 'direct' && otherMember(chat)) stopPresence = followPresence([otherMember(chat)]);
    await loadHistory(chatId, { signal });
    log.removeAttribute('aria-busy');
    renderMessages();
    renderTyping();
    scrollToBottom();
  })().catch((err) => {
    if (signal.aborted || isAbort(err)) return;
    log.removeAttribute('aria-busy');
    const missing = err instanceof ApiError && err.status === 404;
    section.replaceChildren(head, h('p', { class: 'notice error', role: 'alert' }, missing
      ? 'This chat does not exist, or you are not a member of it.'
      : describeError(err) || 'This chat could not be loaded.'),
    h('p', { class: 'links' }, h('a', { href: '#/chats' }, '← Back to your chats')));
  });

  return section;
}
