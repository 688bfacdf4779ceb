// The composer under a conversation: the message box (it grows with its text; Enter sends, Shift+Enter breaks
// the line), the emoji picker, the attachments being uploaded, and the reply or edit in progress.

import { t } from '../core/i18n.js';
import { describeError, h, textWith, uid } from '../core/dom.js';
import { emojiPicker } from './emoji.js';
import { uploadFile } from './files.js';
import { editMessage } from './messages.js';
import { sendMessage } from './outbox.js';
import { nameOf, previewOf } from './store.js';
import { sendTyping } from './typing.js';

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

/**
 * The composer of chat `chatId`. `status`: the screen's status line; `canSend()`: false once the chat is
 * gone or not loaded; `run(promise)`: the screen shows the outcome of an edit; `scrollToBottom()` after a send.
 */
export function createComposer({ chatId, signal, status, canSend, run, scrollToBottom, isE2e = () => false }) {
  let replyTo = null;
  let editing = null;
  const inputId = uid('composer');
  const context = h('div', { class: 'composer-context', hidden: true });
  const files = h('ul', { class: 'composer-files', 'aria-label': t('chat.m.attachments'), hidden: true });
  const text = h('textarea', {
    id: inputId, rows: 1, maxlength: 4000, placeholder: t('chat.m.message'), autocomplete: 'off', enterkeyhint: 'send',
  });
  const picker = h('input', { type: 'file', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', multiple: true });
  const attach = h('button', { type: 'button', class: 'button attach', 'aria-label': t('chat.m.attach') }, paperclip());
  const send = h('button', { type: 'submit', class: 'button primary send' }, t('chat.m.send'));
  const emoji = emojiPicker({
    onPick(symbol) {
      const start = text.selectionStart ?? text.value.length;
      const end = text.selectionEnd ?? start;
      text.setRangeText(symbol, start, end, 'end');
      resize();
    },
  });
  const form = h('form', { class: 'composer', novalidate: true },
    context, files, emoji.panel,
    h('div', { class: 'composer-row' },
      attach, picker, emoji.button,
      h('label', { for: inputId, class: 'visually-hidden' }, t('chat.m.message')), text, send));
  const uploads = []; // {file, state: 'uploading'|'done'|'failed', descriptor, chip}

  /** Grow with the text (wrapped lines too) up to the CSS max-height, then scroll. */
  function resize() {
    text.style.height = 'auto'; // CSSOM, which the CSP allows (it refuses style attributes in markup)
    text.style.height = `${text.scrollHeight + 2}px`;
  }

  function showContext() {
    if (editing) {
      context.replaceChildren(
        h('span', null, h('strong', null, t('chat.m.editing')), ' ', previewOf(editing)), cancelButton(t('chat.m.cancel_edit')));
    } else if (replyTo) {
      context.replaceChildren(h('span', null, ...textWith('chat.m.replying', {
        name: h('strong', null, nameOf(replyTo.sender_id)), text: previewOf(replyTo) })), cancelButton(t('chat.m.cancel_reply')));
    }
    context.hidden = !editing && !replyTo;
    send.textContent = editing ? t('chat.m.save') : t('chat.m.send');
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
    const remove = h('button', { type: 'button', class: 'chip-remove', 'aria-label': t('chat.m.remove_file', { name: file.name }) }, '✕');
    const label = h('span', null, t('chat.m.uploading', { name: file.name }));
    upload.chip = h('li', { class: 'file-chip' }, label, remove);
    remove.addEventListener('click', () => {
      uploads.splice(uploads.indexOf(upload), 1);
      renderFiles();
      text.focus();
    });
    uploads.push(upload);
    renderFiles();
    // In an end-to-end chat the file is encrypted here first, and its key goes inside the message (e2e/files.js).
    const uploading = isE2e() ? import('../e2e/files.js').then((sealed) => sealed.uploadSealed(chatId, file, { signal }))
      : uploadFile(chatId, file, { signal });
    uploading.then((descriptor) => {
      upload.state = 'done';
      upload.descriptor = descriptor;
      label.textContent = `📎 ${descriptor.name || file.name}`;
    }, (err) => {
      upload.state = 'failed';
      label.textContent = `${file.name}: ${describeError(err) || t('chat.m.not_uploaded')}`;
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
      emoji.close();
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
    if (!canSend()) return;
    const value = text.value;
    status.textContent = '';
    if (editing) {
      const target = editing;
      if (!value.trim()) {
        status.textContent = t('chat.m.empty_edit');
        return;
      }
      editing = null;
      text.value = '';
      showContext();
      resize();
      if (value !== target.text) run(editMessage(chatId, target.id, value, isE2e() ? { quote: target.quote, files: target.files } : null));
      return;
    }
    if (uploads.some((u) => u.state === 'uploading')) {
      status.textContent = t('chat.m.wait_uploads');
      return;
    }
    const ready = uploads.filter((u) => u.state === 'done').map((u) => u.descriptor);
    if (!value.trim() && !ready.length) return;
    const e2e = isE2e(); // the reply's quote goes inside the ciphertext; reply_to stays the plain id
    const quote = e2e && replyTo ? { sender_id: replyTo.sender_id, text: previewOf(replyTo) } : null;
    sendMessage(chatId, { text: value.trim() ? value : '', replyTo: replyTo ? replyTo.id : null, files: ready, e2e, quote });
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
    focus: () => text.focus(),
    /** Answer `message`: the next send quotes it. */
    reply(message) {
      editing = null;
      replyTo = message;
      showContext();
    },
    /** Edit one of the user's messages: its text goes into the box, and Save replaces it. */
    edit(message) {
      replyTo = null;
      editing = message;
      text.value = message.text || '';
      resize();
      showContext();
    },
    disable(reason) {
      for (const el of form.querySelectorAll('textarea, button')) el.disabled = true;
      text.placeholder = reason;
    },
  };
}
