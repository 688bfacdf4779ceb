// The chat screens around a conversation: the Chats screen (its list is chat/list.js), starting a direct chat
// or a group by user id, joining by invite link, and the small parts the chat screens share (times, avatars'
// initials, the connection line, the user id to share).

import { formatNumber, t, tn } from '../core/i18n.js';
import { api, ApiError, isSignedIn } from '../core/api.js';
import { card, describeError, h, isAbort, textWith, uid, wideScreen } from '../core/dom.js';
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
      connecting: t('chat.c.connecting'),
      reconnecting: seconds ? t('chat.c.retry_in', { seconds: formatNumber(seconds) }) : t('chat.c.reconnecting'),
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
  const button = h('button', { type: 'button', class: 'button small', 'aria-label': t('chat.c.copy_id') }, t('chat.c.copy'));
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
    status.textContent = copied ? t('chat.c.copied') : t('chat.c.selected');
  });
  return h('div', { class: 'field copy-field' },
    h('label', { for: id }, t('chat.c.your_id')),
    h('p', { class: 'field-hint' }, t('chat.c.your_id_hint')),
    h('div', { class: 'copy-row' }, input, button),
    status);
}

// -- the chat list ---------------------------------------------------------------------------------

/** The Chats screen: the list (chat/list.js); on a wide screen beside a place for the conversation. */
export function chatsView({ signal }) {
  return chatLayout({ signal });
}

// -- new chats -------------------------------------------------------------------------------------

/** The "End-to-end encrypted" choice of a new chat, with what it means; read through `.input.checked`. */
export function e2eChoice() {
  const id = uid('e2e');
  const input = h('input', { id, type: 'checkbox', name: 'e2e', 'aria-describedby': `${id}-hint` });
  const wrap = h('div', { class: 'field checkbox-field' },
    h('div', { class: 'checkbox-row' }, input, h('label', { for: id }, t('chat.c.e2e'))),
    h('p', { id: `${id}-hint`, class: 'field-hint' }, t('chat.c.e2e_hint')));
  return { name: 'e2e', wrap, input, setError() {}, clear() {} };
}

/** "Channel: only admins post", for a new group. */
function broadcastChoice() {
  const id = uid('broadcast');
  const input = h('input', { id, type: 'checkbox', name: 'broadcast', 'aria-describedby': `${id}-hint` });
  const wrap = h('div', { class: 'field checkbox-field' },
    h('div', { class: 'checkbox-row' }, input, h('label', { for: id }, t('chat.c.broadcast'))),
    h('p', { id: `${id}-hint`, class: 'field-hint' }, t('chat.c.broadcast_hint')));
  return { name: 'broadcast', wrap, input, setError() {}, clear() {} };
}

function splitIds(text) {
  return [...new Set(text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean))];
}

export function newChatView({ signal, navigate }) {
  const userId = field({
    name: 'user_id', label: t('chat.c.their_id'), required: true, maxlength: 64, spellcheck: 'false',
    autocapitalize: 'none', autocomplete: 'off', hint: t('chat.c.their_id_hint'),
  });
  const contact = field({
    name: 'name', label: t('chat.c.their_name'), maxlength: 100, autocomplete: 'off',
    hint: t('chat.c.their_name_hint'),
  });
  const directE2e = e2eChoice();
  const direct = createForm({
    fields: [userId, contact, directE2e],
    submitLabel: t('chat.c.start'),
    busyLabel: t('chat.c.starting'),
    validate: (v) => problems({
      user_id: check.required(v.user_id, t('chat.c.id_empty'))
        || (v.user_id === myId() ? t('chat.c.id_own') : null),
    }),
    onSubmit: async (v) => {
      const chat = await createDirect(v.user_id, { e2e: directE2e.input.checked });
      if (v.name) setContactName(v.user_id, v.name);
      navigate(chatPath(chat.id));
    },
    onError: (err, form) => {
      if (err instanceof ApiError && (err.code === 'user_not_found' || err.field === 'user_id')) {
        userId.setError(err.code === 'user_not_found' ? t('chat.c.id_unknown') : describeError(err));
        userId.input.focus();
        return true;
      }
      return false;
    },
  });

  const groupName = field({ name: 'name', label: t('chat.c.group_name'), required: true, maxlength: 100, autocomplete: 'off' });
  const memberIds = field({
    name: 'members', label: t('chat.c.members'), spellcheck: 'false', autocapitalize: 'none', autocomplete: 'off',
    hint: t('chat.c.members_hint'),
  });
  const groupE2e = e2eChoice();
  const groupBroadcast = broadcastChoice();
  const group = createForm({
    fields: [groupName, memberIds, groupBroadcast, groupE2e],
    submitLabel: t('chat.c.create_group'),
    busyLabel: t('chat.c.creating'),
    validate: (v) => problems({ name: check.required(v.name, t('chat.c.group_name_empty')) }),
    onSubmit: async (v) => {
      const chat = await createGroup(v.name, splitIds(v.members).filter((id) => id !== myId()), {
        e2e: groupE2e.input.checked, broadcast: groupBroadcast.input.checked,
      });
      navigate(chatPath(chat.id));
    },
    onError: (err) => {
      if (err instanceof ApiError && err.code === 'user_not_found') {
        memberIds.setError(t('chat.c.members_unknown'));
        memberIds.input.focus();
        return true;
      }
      return false;
    },
  });

  const mine = h('div');
  whoAmI({ signal }).then((id) => mine.replaceChildren(myIdControl(id)), () => {});

  return wideScreen(t('chat.c.new_chat'),
    h('p', { class: 'links' }, h('a', { href: '#/chats' }, t('chat.c.back'))),
    card(t('chat.c.message_someone'), direct.form).element,
    card(t('chat.c.new_group'), group.form).element,
    card(t('chat.c.your_id_title'), mine).element);
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
    return wideScreen(t('chat.c.join_title'),
      h('p', null, t('chat.c.join_signin')),
      h('p', { class: 'actions' }, h('a', { class: 'button primary', href: '#/signin' }, t('chat.c.sign_in')),
        h('a', { class: 'button', href: '#/register' }, t('chat.c.register'))));
  }
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('chat.c.looking_up')));
  const status = h('p', { class: 'status', role: 'status' });
  fetchPreview();

  function fetchPreview() {
    api.get(`/api/invites/${encodeURIComponent(code)}`, { signal })
      .then((preview) => {
        body.removeAttribute('aria-busy');
        const join = h('button', { type: 'button', class: 'button primary' }, t('chat.c.join'));
        join.addEventListener('click', async () => {
          join.disabled = true;
          join.textContent = t('chat.c.joining');
          status.textContent = '';
          try {
            const chat = await joinInvite(code);
            navigate(chatPath(chat.id), { replace: true });
          } catch (err) {
            join.disabled = false;
            join.textContent = t('chat.c.join');
            status.textContent = describeError(err) || '';
          }
        });
        body.replaceChildren(...[
          h('p', null, ...textWith('chat.c.invited', {
            name: h('strong', null, preview.name || t('chat.c.a_group')), members: tn('chat.c.members_count', preview.members),
          })),
          preview.description ? h('p', { class: 'muted' }, preview.description) : null,
          h('p', { class: 'actions' }, join, h('a', { class: 'button', href: '#/chats' }, t('chat.c.not_now'))),
          status,
        ].filter(Boolean));
      }, (err) => {
        if (signal.aborted || isAbort(err)) return;
        body.removeAttribute('aria-busy');
        const gone = err instanceof ApiError && (err.status === 404 || err.status === 410);
        body.replaceChildren(h('p', { class: 'notice error', role: 'alert' },
          gone ? t('chat.c.invite_gone')
            : describeError(err)),
        h('p', { class: 'links' }, h('a', { href: '#/chats' }, t('chat.c.go_chats'))));
      });
  }

  return wideScreen(t('chat.c.join_title'), body);
}
