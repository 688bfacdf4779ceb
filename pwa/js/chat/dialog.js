// A modal dialog for the chat screens' panels (group details, forward, who read a message, a person): a
// labelled <dialog> with a heading and a Close button, removed when closed, focus back where it was.

import { h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';

/** Open a dialog titled `title` holding `content`; returns {dialog, body, close, setTitle}. */
export function openDialog(title, ...content) {
  const titleId = uid('dialog');
  const heading = h('h2', { id: titleId, class: 'dialog-title' }, title);
  const close = h('button', { type: 'button', class: 'button small' }, t('chat.dialog.close'));
  const body = h('div', { class: 'dialog-body' }, content);
  const dialog = h('dialog', { class: 'chat-dialog', 'aria-labelledby': titleId },
    h('div', { class: 'dialog-bar' }, heading, close), body);
  const opener = document.activeElement;
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  });
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  document.body.append(dialog);
  dialog.showModal();
  return {
    dialog, body, close: () => dialog.close(), setTitle: (text) => { heading.textContent = text; },
  };
}

/** A "Copied" / "Shared" status line beside a value, and the Copy and Share buttons (Share where supported). */
export function copyShare(value, { title = '', label }) {
  const status = h('span', { class: 'copy-status muted', role: 'status' });
  const copy = h('button', { type: 'button', class: 'button small' }, t('chat.copy'));
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value);
      status.textContent = t('chat.copied');
    } catch {
      status.textContent = t('chat.copy_failed');
    }
  });
  const buttons = [copy];
  if (typeof navigator.share === 'function') {
    const share = h('button', { type: 'button', class: 'button small' }, t('chat.share'));
    share.addEventListener('click', () => {
      navigator.share({ title, url: value }).catch(() => {});
    });
    buttons.push(share);
  }
  const id = uid('copy');
  const input = h('input', { id, type: 'text', class: 'mono copy-value', readonly: true, value });
  input.addEventListener('focus', () => input.select());
  return h('div', { class: 'field copy-field' }, h('label', { for: id }, label),
    h('div', { class: 'copy-row' }, input, ...buttons), status);
}
