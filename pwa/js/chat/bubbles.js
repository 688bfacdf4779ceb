// One message on the conversation screen: its bubble (sender, reply quote, attachments, text with its links,
// time, receipt, reactions) and its actions (reply, react, forward, edit, delete, who read it, report, block).
// Built from data, never from HTML.

import { h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { shortTime } from './chats.js';
import { messageKind } from './extend.js';
import { describeSize, fileUrl } from './files.js';
import { linkify } from './links.js';
import { sealedNotice } from './sealed.js';
import { findMessage, nameOf, previewOf } from './store.js';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
const DELETE_WINDOW_S = 48 * 3600;

function hidden(text) {
  return h('span', { class: 'visually-hidden' }, text);
}

/** ✓ sent, ✓✓ delivered, coloured ✓✓ read: the marks under one's own messages. */
function receipt(state) {
  const label = t(`chat.receipt.${state}`);
  return h('span', { class: state === 'sent' ? 'receipt' : `receipt ${state}`, title: label },
    h('span', { 'aria-hidden': 'true' }, state === 'sent' ? '✓' : '✓✓'), hidden(label));
}

/** The quote of the message answered: as loaded here, else as the sender quoted it inside the ciphertext. */
function replyQuote(chatId, replyTo, quoted = null) {
  const found = findMessage(chatId, replyTo);
  const original = quoted && (!found || sealedNotice(found)) ? { sender_id: quoted.sender_id, text: quoted.text } : found;
  const who = original ? nameOf(original.sender_id) : t('chat.b.earlier');
  const what = original ? previewOf(original) : t('chat.b.not_loaded');
  return h('blockquote', { class: 'reply-quote', 'data-reply-to': replyTo },
    hidden(`${t('chat.b.reply_to')} `), h('span', { class: 'reply-who' }, who), h('span', { class: 'reply-what' }, what));
}

function showPhoto(file) {
  const image = h('img', { alt: file.name || t('chat.b.photo'), class: 'photo-full' });
  const close = h('button', { type: 'button', class: 'button small' }, t('chat.b.close'));
  const dialog = h('dialog', { class: 'photo-dialog', 'aria-label': file.name || t('chat.b.photo') },
    h('div', { class: 'photo-dialog-bar' }, h('span', { class: 'photo-name' }, file.name || t('chat.b.photo')), close), image);
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close();
  });
  document.body.append(dialog);
  dialog.showModal();
  fileUrl(file).then((url) => { image.src = url; }, () => { image.alt = t('chat.b.photo_failed'); });
}

async function download(file, button) {
  const label = button.textContent;
  button.disabled = true;
  try {
    const url = await fileUrl(file);
    const link = h('a', { href: url, download: file.name || 'attachment' });
    document.body.append(link);
    link.click();
    link.remove();
  } catch {
    button.title = t('chat.b.download_failed');
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function attachmentBlock(files) {
  return h('div', { class: 'attachments' }, files.map((file) => {
    if (file.kind === 'image' && file.thumbnail) {
      const img = h('img', {
        class: 'thumb', alt: file.name || t('chat.b.photo'), width: file.width || null, height: file.height || null,
      });
      fileUrl(file, { thumbnail: true }).then((url) => { img.src = url; }, () => {
        img.alt = t('chat.b.photo_failed');
      });
      const open = h('button', { type: 'button', class: 'thumb-button', 'aria-label': t('chat.b.open_photo', { name: file.name || '' }).trim() }, img);
      open.addEventListener('click', () => showPhoto(file));
      return open;
    }
    const button = h('button', { type: 'button', class: 'file-chip' },
      h('span', { 'aria-hidden': 'true' }, '📎 '), file.name || t('chat.b.file'),
      file.size ? h('span', { class: 'muted' }, ` (${describeSize(file.size)})`) : null);
    button.addEventListener('click', () => download(file, button));
    return button;
  }));
}

function body(message) {
  if (message.deleted) return [h('p', { class: 'text deleted-text' }, t('chat.b.deleted'))];
  const notice = sealedNotice(message);
  if (notice) return [h('p', { class: 'text muted sealed-notice' }, t(notice))];
  const files = message.sealed === 'open' ? message.files || [] : message.attachments; // e2e: the decrypted list
  return [
    Array.isArray(files) && files.length ? attachmentBlock(files) : null,
    message.text ? h('p', { class: 'text' }, linkify(message.text)) : null,
  ];
}

function reactionList(message, me, actions) {
  const entries = Object.entries(message.reactions || {}).filter(([, users]) => users.length);
  if (!entries.length) return null;
  return h('ul', { class: 'reactions', 'aria-label': t('chat.b.reactions') }, entries.map(([emoji, users]) => {
    const mine = users.includes(me);
    const who = users.map(nameOf).join(', ');
    const button = h('button', {
      type: 'button', class: 'reaction', 'aria-pressed': String(mine), title: who,
      'aria-label': `${emoji} ${users.length}: ${who}. ${t(mine ? 'chat.b.unreact' : 'chat.b.react_too')}`,
    }, `${emoji} ${users.length}`);
    button.addEventListener('click', () => actions.react(message, emoji, !mine));
    return h('li', null, button);
  }));
}

/**
 * The panel of a message's actions. `actions`: {reply, react, forward, edit, readers, report, block, remove,
 * toggle}; `view`: {me, group, blocked, canModerate, receipt, panel: null | 'menu' | 'delete'}.
 */
function actionPanel(message, view, actions, panelId) {
  const mine = message.sender_id === view.me;
  const button = (label, onClick, attrs = {}) => {
    const b = h('button', { type: 'button', class: 'button small', ...attrs }, label);
    b.addEventListener('click', onClick);
    return b;
  };
  if (view.panel === 'delete') {
    const recent = Date.now() / 1000 - (message.created_at || 0) < DELETE_WINDOW_S;
    return h('div', { class: 'message-actions', id: panelId, role: 'group', 'aria-label': t('chat.b.delete_this') },
      button(t('chat.b.delete_mine'), () => actions.remove(message, false), { class: 'button small danger' }),
      (mine && recent) || view.canModerate
        ? button(t('chat.b.delete_all'), () => actions.remove(message, true), { class: 'button small danger' }) : null,
      button(t('chat.b.cancel'), () => actions.toggle(message, null)));
  }
  return h('div', { class: 'message-actions', id: panelId, role: 'group', 'aria-label': t('chat.b.actions') },
    h('span', { class: 'quick-reactions' }, QUICK_REACTIONS.map((emoji) => {
      const already = (message.reactions?.[emoji] || []).includes(view.me);
      return button(emoji, () => actions.react(message, emoji, !already), {
        class: 'button small emoji', 'aria-pressed': String(already), 'aria-label': t('chat.b.react_with', { emoji }),
      });
    })),
    button(t('chat.b.reply'), () => actions.reply(message)),
    forwardable(message) ? button(t('chat.action.forward'), () => actions.forward(message)) : null,
    mine && typeof message.text === 'string' && !message.forward ? button(t('chat.b.edit'), () => actions.edit(message)) : null,
    mine && view.group ? button(t('chat.action.readers'), () => actions.readers(message)) : null,
    mine ? null : button(t('chat.action.report'), () => actions.report(message)),
    mine || view.blocked ? null : button(t('chat.action.block'), () => actions.block(message.sender_id)),
    button(t('chat.b.delete'), () => actions.toggle(message, 'delete')));
}

function forwardable(message) {
  // An end-to-end message once decrypted here: the client encrypts it again for the target (message-dialogs.js).
  const readable = typeof message.ciphertext !== 'string' || message.sealed === 'open';
  return typeof message.text === 'string' && readable && (!message.kind || message.kind === 'text');
}

/** The <li> of a stored message. */
export function messageElement(chat, message, view, actions) {
  const kind = message.kind && message.kind !== 'text' && !message.deleted ? messageKind(message.kind) : null;
  if (kind) return kind.element(chat, message, view);
  const mine = message.sender_id === view.me;
  const classes = ['message', mine ? 'mine' : 'theirs'];
  if (message.deleted) classes.push('deleted');
  const li = h('li', { class: classes.join(' '), 'data-message-id': message.id, 'data-created-at': message.created_at });
  const bubble = h('div', { class: 'bubble' });
  if (!mine) bubble.append(h('p', { class: chat.kind === 'group' ? 'sender' : 'sender visually-hidden' }, nameOf(message.sender_id)));
  else bubble.append(hidden(`${t('chat.b.you')} `));
  if (message.forward && !message.deleted) {
    bubble.append(h('p', { class: 'forwarded' }, t('chat.b.forwarded', { name: message.forward.name || nameOf(message.forward.sender_id) })));
  }
  if (message.reply_to && !message.deleted) bubble.append(replyQuote(chat.id, message.reply_to, message.quote));
  bubble.append(...body(message).filter(Boolean));
  bubble.append(h('p', { class: 'meta' },
    shortTime(message.created_at),
    message.edited && !message.deleted ? h('span', { class: 'edited' }, ` · ${t('chat.b.edited')}`) : null,
    mine && !message.deleted ? receipt(view.receipt) : null));
  li.append(bubble);
  if (!message.deleted) {
    const reactions = reactionList(message, view.me, actions);
    if (reactions) li.append(reactions);
    const panelId = uid('actions');
    const open = view.panel !== null;
    const more = h('button', {
      type: 'button', class: 'more', 'aria-expanded': String(open), 'aria-controls': panelId,
      'aria-label': t('chat.b.actions_this'),
    }, '⋯');
    more.addEventListener('click', () => actions.toggle(message, open ? null : 'menu'));
    li.append(more);
    if (open) li.append(actionPanel(message, view, actions, panelId));
  }
  return li;
}

/** The <li> of a message still on its way (or refused), with Retry and Discard when it failed. */
export function pendingElement(chat, entry, actions) {
  const failed = entry.state === 'failed';
  const li = h('li', {
    class: failed ? 'message mine pending failed' : 'message mine pending', 'data-client-id': entry.client_id,
    'data-created-at': entry.created_at,
  });
  const files = Array.isArray(entry.files) ? entry.files : [];
  const bubble = h('div', { class: 'bubble' }, hidden(`${t('chat.b.you')} `),
    entry.reply_to ? replyQuote(chat.id, entry.reply_to, entry.quote) : null,
    files.length ? h('p', { class: 'text muted' }, files.map((f) => `📎 ${f.name || t('chat.b.file')}`).join(', ')) : null,
    entry.text ? h('p', { class: 'text' }, linkify(entry.text)) : null,
    h('p', { class: 'meta' }, failed
      ? h('span', { class: 'send-error' }, t('chat.b.not_sent', { reason: entry.error || t('chat.b.refused') }))
      : h('span', { class: 'receipt sending', title: t('chat.b.sending') }, h('span', { 'aria-hidden': 'true' }, '🕓'), hidden(t('chat.b.sending')))));
  li.append(bubble);
  if (failed) {
    const retry = h('button', { type: 'button', class: 'button small' }, t('chat.b.retry'));
    retry.addEventListener('click', () => actions.retry(entry));
    const discard = h('button', { type: 'button', class: 'button small' }, t('chat.b.discard'));
    discard.addEventListener('click', () => actions.discard(entry));
    li.append(h('div', { class: 'message-actions' }, retry, discard));
  }
  return li;
}
