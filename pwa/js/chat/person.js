// Blocking, and a person's profile as the chat screens show it: their name, their user id, block or unblock,
// and reporting their latest message in this chat. Blocking stops direct messages both ways and hides your
// presence from them (server/chat/moderation.py).

import { api } from '../core/api.js';
import { describeError, h } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { copyShare, openDialog } from './dialog.js';
import { reportDialog } from './message-dialogs.js';
import { emit, getChat, messagesOf, myId, nameOf } from './store.js';

let blocked = null; // Set of user ids the user has blocked, once loaded
let loading = null;

/** The user's blocks (loaded once per page; block and unblock keep it current). */
export async function loadBlocks() {
  if (blocked) return blocked;
  if (!loading) {
    loading = api.get('/api/blocks').then((answer) => {
      blocked = new Set((answer.blocks || []).map((b) => b.user_id));
      return blocked;
    }).finally(() => { loading = null; });
  }
  return loading;
}

export function isBlocked(userId) {
  return Boolean(blocked && blocked.has(userId));
}

/** Forget the blocks (another user signs in). */
export function forgetBlocks() {
  blocked = null;
}

export async function setBlocked(userId, on) {
  if (on) await api.post('/api/blocks', { user_id: userId });
  else await api.delete(`/api/blocks/${encodeURIComponent(userId)}`);
  await loadBlocks();
  if (on) blocked.add(userId);
  else blocked.delete(userId);
  emit({ kind: 'blocks', userId });
}

/** Ask, then block `userId`; `onDone(text)` with the outcome for the screen's status line. */
export function confirmBlock(userId, { onDone } = {}) {
  const status = h('p', { class: 'status', role: 'status' });
  const yes = h('button', { type: 'button', class: 'button danger' }, t('chat.block.confirm'));
  const opened = openDialog(t('chat.block.title', { name: nameOf(userId) }),
    h('p', null, t('chat.block.explain')), status, h('p', { class: 'actions' }, yes));
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await setBlocked(userId, true);
      opened.close();
      if (onDone) onDone(t('chat.block.done', { name: nameOf(userId) }));
    } catch (err) {
      yes.disabled = false;
      status.textContent = describeError(err) || '';
    }
  });
  return opened;
}

/** The profile of `userId`, seen from chat `chatId`. */
export function personDialog(userId, chatId, { onDone } = {}) {
  const status = h('p', { class: 'status', role: 'status' });
  const actions = h('p', { class: 'actions' });
  const opened = openDialog(nameOf(userId),
    copyShare(userId, { label: t('chat.person.id') }), actions, status);

  function render() {
    const theirs = messagesOf(chatId).filter((m) => m.sender_id === userId && !m.deleted && !m.silent);
    const latest = theirs[theirs.length - 1];
    const block = h('button', { type: 'button', class: isBlocked(userId) ? 'button' : 'button danger' },
      isBlocked(userId) ? t('chat.person.unblock') : t('chat.person.block'));
    block.addEventListener('click', async () => {
      block.disabled = true;
      const on = !isBlocked(userId);
      try {
        await setBlocked(userId, on);
        status.textContent = on ? t('chat.block.done', { name: nameOf(userId) }) : t('chat.person.unblocked');
      } catch (err) {
        status.textContent = describeError(err) || '';
      }
      render();
      block.focus();
    });
    const report = h('button', { type: 'button', class: 'button', disabled: !latest },
      t('chat.person.report'));
    report.addEventListener('click', () => {
      opened.close();
      reportDialog(chatId, latest, { onDone });
    });
    actions.replaceChildren(block, report);
    if (!latest) actions.append(h('span', { class: 'field-hint' }, t('chat.person.nothing_to_report')));
  }
  render();
  loadBlocks().then(render, () => {});
  trustPart(opened, userId, chatId);
  return opened;
}

/** In an end-to-end chat: whether the person is verified, and "Verify security keys" (e2e/trust-ui.js, lazy). */
function trustPart(opened, userId, chatId) {
  if (!getChat(chatId)?.e2e || userId === myId()) return;
  const section = h('section', { class: 'person-trust' });
  opened.body.append(section);
  import('../e2e/trust-ui.js').then((ui) => ui.mountPersonTrust(section, userId))
    .catch((err) => console.warn('end-to-end trust:', err));
}
