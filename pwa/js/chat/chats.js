// The chat screens around a conversation: the Chats screen (its list is chat/list.js), starting a direct chat
// or a group by user id, joining by invite link, and the small parts the chat screens share (times, avatars'
// initials, the connection line, the user id to share).

import { api, ApiError, isSignedIn } from '../core/api.js';
import { card, describeError, h, isAbort, uid, wideScreen } from '../core/dom.js';
import { check, createForm, field, problems } from '../core/forms.js';
import { onStatus } from '../core/socket.js';
import { chatLayout } from './layout.js';
import { createDirect, createGroup, joinInvite, myId, setContactName, whoAmI } from './store.js';

const PENDING_JOIN = 'realtime.pending_join';

export function chatPath(chatId) {
  return `/chat?id=${encodeURIComponent(chatId)}`;
}

export function initials(title) {
  const words = String(title || '?').replace(/^User\s+/, '').trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0]).join('');
  return (letters || '?').toUpperCase();
}

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A <time> with a short label: the time today, the date otherwise; the full date in its title. */
export function shortTime(seconds) {
  if (typeof seconds !== 'number') return null;
  const date = new Date(seconds * 1000);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return h('time', { datetime: date.toISOString(), title: fullDate.format(date) },
    sameDay ? timeOfDay.format(date) : dayMonth.format(date));
}

/** A line that says how the connection is, empty while all is well (offline, the app's banner says it). */
export function connectionNotice(signal) {
  const line = h('p', { class: 'conn-status', role: 'status' });
  const stop = onStatus((state, seconds) => {
    line.dataset.state = state;
    line.textContent = {
      connecting: 'Connecting…',
      reconnecting: seconds ? `Connection lost. Trying again in ${seconds} s…` : 'Reconnecting…',
    }[state] || '';
  });
  signal.addEventListener('abort', stop, { once: true });
  return line;
}

/** The user's own id with a Copy button, to give to people who want to message them. */
export function myIdControl(userId) {
  const id = uid('my-id');
  const input = h('input', { id, type: 'text', class: 'mono copy-value', readonly: true, value: userId, spellcheck: 'false' });
  const status = h('span', { class: 'copy-status muted', role: 'status' });
  const button = h('button', { type: 'button', class: 'button small', 'aria-label': 'Copy your user id' }, 'Copy');
  button.addEventListener('click', async () => {
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(userId);
        copied = true;
      }
    } catch {
      // fall back to selecting it
    }
    if (!copied) {
      input.focus();
      input.select();
    }
    status.textContent = copied ? 'Copied.' : 'Selected: copy it with your keyboard or menu.';
  });
  return h('div', { class: 'field copy-field' },
    h('label', { for: id }, 'Your user id'),
    h('p', { class: 'field-hint' }, 'Give it to people who want to message you: they paste it under “New chat”.'),
    h('div', { class: 'copy-row' }, input, button),
    status);
}

// -- the chat list ---------------------------------------------------------------------------------

/** The Chats screen: the list (chat/list.js); on a wide screen beside a place for the conversation. */
export function chatsView({ signal }) {
  return chatLayout({ signal });
}

// -- new chats -------------------------------------------------------------------------------------

function splitIds(text) {
  return [...new Set(text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean))];
}

export function newChatView({ signal, navigate }) {
  const userId = field({
    name: 'user_id', label: 'Their user id', required: true, maxlength: 64, spellcheck: 'false',
    autocapitalize: 'none', autocomplete: 'off', hint: 'They find it on their Chats screen, under “Your user id”.',
  });
  const contact = field({
    name: 'name', label: 'Their name', maxlength: 100, autocomplete: 'off',
    hint: 'Only you see it: it labels the chat on this device.',
  });
  const direct = createForm({
    fields: [userId, contact],
    submitLabel: 'Start chat',
    busyLabel: 'Starting…',
    validate: (v) => problems({
      user_id: check.required(v.user_id, 'Paste the user id of the person you want to message.')
        || (v.user_id === myId() ? 'That is your own id: paste theirs.' : null),
    }),
    onSubmit: async (v) => {
      const chat = await createDirect(v.user_id);
      if (v.name) setContactName(v.user_id, v.name);
      navigate(chatPath(chat.id));
    },
    onError: (err, form) => {
      if (err instanceof ApiError && (err.code === 'user_not_found' || err.field === 'user_id')) {
        userId.setError(err.code === 'user_not_found' ? 'No one has this user id. Check it and try again.' : describeError(err));
        userId.input.focus();
        return true;
      }
      return false;
    },
  });

  const groupName = field({ name: 'name', label: 'Group name', required: true, maxlength: 100, autocomplete: 'off' });
  const memberIds = field({
    name: 'members', label: 'Members', spellcheck: 'false', autocapitalize: 'none', autocomplete: 'off',
    hint: 'Their user ids, separated by spaces or commas. You can also invite people with a link later.',
  });
  const group = createForm({
    fields: [groupName, memberIds],
    submitLabel: 'Create group',
    busyLabel: 'Creating…',
    validate: (v) => problems({ name: check.required(v.name, 'Give the group a name.') }),
    onSubmit: async (v) => {
      const chat = await createGroup(v.name, splitIds(v.members).filter((id) => id !== myId()));
      navigate(chatPath(chat.id));
    },
    onError: (err) => {
      if (err instanceof ApiError && err.code === 'user_not_found') {
        memberIds.setError('One of these user ids belongs to no one. Check them and try again.');
        memberIds.input.focus();
        return true;
      }
      return false;
    },
  });

  const mine = h('div');
  whoAmI({ signal }).then((id) => mine.replaceChildren(myIdControl(id)), () => {});

  return wideScreen('New chat',
    h('p', { class: 'links' }, h('a', { href: '#/chats' }, '← Chats')),
    card('Message someone', direct.form).element,
    card('New group', group.form).element,
    card('Your id', mine).element);
}

// -- invite links ----------------------------------------------------------------------------------

/** The invite a signed-out visitor opened, to join right after signing in ('/join?code=…'), or null. */
export function takePendingJoin() {
  try {
    const code = sessionStorage.getItem(PENDING_JOIN);
    sessionStorage.removeItem(PENDING_JOIN);
    return code ? `/join?code=${encodeURIComponent(code)}` : null;
  } catch {
    return null;
  }
}

export function joinView({ params, signal, navigate }) {
  const code = params.get('code') || '';
  if (!isSignedIn()) {
    try {
      if (code) sessionStorage.setItem(PENDING_JOIN, code);
    } catch {
      // without storage the link has to be opened again after signing in
    }
    return wideScreen('Join a chat',
      h('p', null, 'You were invited to a chat. Sign in first, and you can join it right after.'),
      h('p', { class: 'actions' }, h('a', { class: 'button primary', href: '#/signin' }, 'Sign in'),
        h('a', { class: 'button', href: '#/register' }, 'Create an account')));
  }
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Looking up the invite…'));
  const status = h('p', { class: 'status', role: 'status' });
  fetchPreview();

  function fetchPreview() {
    api.get(`/api/invites/${encodeURIComponent(code)}`, { signal })
      .then((preview) => {
        body.removeAttribute('aria-busy');
        const join = h('button', { type: 'button', class: 'button primary' }, 'Join');
        join.addEventListener('click', async () => {
          join.disabled = true;
          join.textContent = 'Joining…';
          status.textContent = '';
          try {
            const chat = await joinInvite(code);
            navigate(chatPath(chat.id), { replace: true });
          } catch (err) {
            join.disabled = false;
            join.textContent = 'Join';
            status.textContent = describeError(err) || '';
          }
        });
        body.replaceChildren(...[
          h('p', null, 'You are invited to ', h('strong', null, preview.name || 'a group'),
            ` (${preview.members} ${preview.members === 1 ? 'member' : 'members'}).`),
          preview.description ? h('p', { class: 'muted' }, preview.description) : null,
          h('p', { class: 'actions' }, join, h('a', { class: 'button', href: '#/chats' }, 'Not now')),
          status,
        ].filter(Boolean));
      }, (err) => {
        if (signal.aborted || isAbort(err)) return;
        body.removeAttribute('aria-busy');
        const gone = err instanceof ApiError && (err.status === 404 || err.status === 410);
        body.replaceChildren(h('p', { class: 'notice error', role: 'alert' },
          gone ? 'This invite link does not work any more: it was revoked, used up or has expired. Ask for a new one.'
            : describeError(err)),
        h('p', { class: 'links' }, h('a', { href: '#/chats' }, 'Go to your chats')));
      });
  }

  return wideScreen('Join a chat', body);
}
