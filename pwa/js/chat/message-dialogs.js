// The dialogs a message's actions open: forward it to one or several chats, see who read it (and who got it)
// in a group, and report it to the server's admins.

import { api } from '../core/api.js';
import { describeError, h, uid } from '../core/dom.js';
import { t, tn } from '../core/i18n.js';
import { command } from '../core/socket.js';
import { openDialog } from './dialog.js';
import { applyMessage } from './messages.js';
import { loadReaders } from './receipts.js';
import { chatList, chatTitle, getChat, nameOf, previewOf } from './store.js';

function newClientId() {
  return crypto.randomUUID();
}

/** Forward `message` (of chat `fromId`): pick chats, then one message.send with `forward` per chat. */
export function forwardDialog(fromId, message, { onDone } = {}) {
  const filterId = uid('forward-filter');
  const filter = h('input', { id: filterId, type: 'search', autocomplete: 'off', class: 'chat-search' });
  const choices = h('ul', { class: 'pick-list' });
  const status = h('p', { class: 'status', role: 'status' });
  const send = h('button', { type: 'submit', class: 'button primary' }, t('chat.forward.send'));
  const form = h('form', { class: 'forward-form' },
    h('p', { class: 'muted forward-preview' }, previewOf(message)),
    typeof message.ciphertext === 'string' ? h('p', { class: 'muted' }, t('chat.forward.e2e_only')) : null,
    h('label', { for: filterId }, t('chat.forward.filter')), filter,
    h('fieldset', null, h('legend', null, t('chat.forward.to')), choices), status, h('p', { class: 'actions' }, send));
  const sealedSource = typeof message.ciphertext === 'string';
  // An end-to-end message goes only into end-to-end chats: into a plain one it would be published to the server.
  const targets = chatList().filter((chat) => (chat.e2e || !sealedSource) && !chat.me?.archived);
  const picked = new Set();

  function render() {
    const query = filter.value.trim().toLowerCase();
    const shown = targets.filter((chat) => !query || chatTitle(chat).toLowerCase().includes(query));
    choices.replaceChildren(...shown.map((chat) => {
      const id = uid('pick');
      const box = h('input', { id, type: 'checkbox', checked: picked.has(chat.id) });
      box.addEventListener('change', () => {
        if (box.checked) picked.add(chat.id);
        else picked.delete(chat.id);
        send.textContent = picked.size > 1 ? tn('chat.forward.send_many', picked.size) : t('chat.forward.send');
      });
      return h('li', null, box, h('label', { for: id }, chatTitle(chat)));
    }));
    if (!shown.length) choices.replaceChildren(h('li', { class: 'muted' }, t('chat.forward.none')));
  }
  filter.addEventListener('input', render);
  render();
  const opened = openDialog(t('chat.forward.title'), form);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!picked.size) {
      status.textContent = t('chat.forward.pick');
      return;
    }
    send.disabled = true;
    status.textContent = t('chat.forward.sending');
    const ids = [...picked];
    const results = await Promise.allSettled(ids.map((chatId) => (getChat(chatId)?.e2e || sealedSource
      ? forwardSealedInto(chatId, message)
      : command('message.send', { chat_id: chatId, client_id: newClientId(), forward: { chat_id: fromId, message_id: message.id } }))));
    const failed = results.filter((r) => r.status === 'rejected');
    for (const r of results) if (r.status === 'fulfilled' && r.value.id) applyMessage(r.value, { fresh: !r.value.duplicate });
    if (failed.length) {
      send.disabled = false;
      status.textContent = describeError(failed[0].reason) || '';
      return;
    }
    opened.close();
    if (onDone) onDone(tn('chat.forward.done', ids.length));
  });
  return opened;
}

/** A forward the client encrypts again (e2e/forward.js): the server cannot forward into or out of such a chat. */
async function forwardSealedInto(chatId, message) {
  const module = await import('../e2e/forward.js');
  await module.forwardSealed(chatId, message);
  return {}; // queued in the outbox, which shows it as it goes
}

/** Who has read `message` of a group (and who has it on a device but has not read it yet). */
export function readersDialog(chatId, message) {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('chat.readers.loading')));
  const opened = openDialog(t('chat.readers.title'), body);
  loadReaders(chatId, message.id).then((answer) => {
    body.removeAttribute('aria-busy');
    const read = answer.read_by || [];
    const got = (answer.delivered_to || []).filter((id) => !read.includes(id));
    const section = (title, ids, empty) => [h('h3', null, title), ids.length
      ? h('ul', { class: 'people' }, ids.map((id) => h('li', null, nameOf(id))))
      : h('p', { class: 'muted' }, empty)];
    body.replaceChildren(
      ...section(tn('chat.readers.read', read.length), read, t('chat.readers.nobody')),
      ...section(tn('chat.readers.delivered', got.length), got, t('chat.readers.nobody')));
  }, (err) => {
    body.removeAttribute('aria-busy');
    body.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, describeError(err) || ''));
  });
  return opened;
}

/** Report `message` to the server's admins, with an optional reason. `onDone(text)` after it went. */
export function reportDialog(chatId, message, { onDone } = {}) {
  const reasonId = uid('reason');
  const reason = h('textarea', { id: reasonId, rows: 3, maxlength: 1000 });
  const status = h('p', { class: 'status', role: 'status' });
  const send = h('button', { type: 'submit', class: 'button danger' }, t('chat.report.send'));
  const form = h('form', null,
    h('p', null, t('chat.report.explain', { name: nameOf(message.sender_id) })),
    h('blockquote', { class: 'reply-quote' }, previewOf(message)),
    h('label', { for: reasonId }, t('chat.report.reason')), reason, status, h('p', { class: 'actions' }, send));
  const opened = openDialog(t('chat.report.title'), form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    send.disabled = true;
    try {
      const text = reason.value.trim();
      await api.post(`/api/chats/${encodeURIComponent(chatId)}/messages/${message.id}/report`,
        { reason: text || null });
      opened.close();
      if (onDone) onDone(t('chat.report.done'));
    } catch (err) {
      send.disabled = false;
      status.textContent = describeError(err) || '';
    }
  });
  return opened;
}
