// A conversation's Options menu: pin, archive, mute (1 hour, 8 hours, a day, always); in a direct chat the
// name this device gives the other person; in a group an invite link (Copy, Share) and leaving.

import { api } from '../core/api.js';
import { describeError, h, uid } from '../core/dom.js';
import { formatDateTime, t } from '../core/i18n.js';
import { copyShare } from './dialog.js';
import { changeSettings, chatTitle, hasContactName, nameOf, otherMember, setContactName } from './store.js';

export const MUTE_ALWAYS = 32503680000; // the year 3000: muted until unmuted
const MUTES = [['hour', 3600], ['hours8', 8 * 3600], ['day', 86400], ['always', null]];

/** "Muted until 18:30" / "Muted" for a chat's `muted_until`, or null when it is not muted. */
export function mutedLabel(mutedUntil) {
  if (!mutedUntil || mutedUntil * 1000 <= Date.now()) return null;
  if (mutedUntil >= MUTE_ALWAYS) return t('chat.mute.muted_always');
  const sameDay = new Date(mutedUntil * 1000).toDateString() === new Date().toDateString();
  return t('chat.mute.muted_until', { when: formatDateTime(mutedUntil, sameDay ? 'time' : 'dateTime') });
}

/**
 * The Options button and the menu it opens, for chat `chatId`. `getChat()`: the chat as the screen has it
 * (null until loaded); `status`: the screen's status line; `onContactNamed()` after a name was saved.
 */
export function chatOptions({ chatId, getChat, status, navigate, onContactNamed }) {
  const menuId = uid('chat-menu');
  const button = h('button', {
    type: 'button', class: 'button small', 'aria-expanded': 'false', 'aria-controls': menuId,
  }, t('chat.o.options'));
  const menu = h('div', { id: menuId, class: 'chat-menu card', hidden: true });

  function setMenu(open) {
    menu.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) {
      renderMenu();
      menu.querySelector('button, input')?.focus();
    }
  }
  button.addEventListener('click', () => setMenu(menu.hidden));
  menu.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      setMenu(false);
      button.focus();
    }
  });

  function menuAction(label, work, attrs = {}, { keepOpen = false } = {}) {
    const action = h('button', { type: 'button', class: 'button small', ...attrs }, label);
    action.addEventListener('click', async () => {
      action.disabled = true;
      status.textContent = '';
      try {
        const message = await work();
        if (typeof message === 'string') status.textContent = message;
        if (keepOpen) action.disabled = false;
        else setMenu(false);
      } catch (err) {
        status.textContent = describeError(err) || '';
        action.disabled = false;
      }
    });
    return action;
  }

  function renderMenu() {
    const chat = getChat();
    if (!chat) return;
    const settings = chat.me || {};
    const muted = settings.muted_until && settings.muted_until * 1000 > Date.now();
    const items = [
      menuAction(settings.pinned_at ? t('chat.o.unpin') : t('chat.o.pin'), () => changeSettings(chatId, { pinned: !settings.pinned_at })
        .then(() => (settings.pinned_at ? t('chat.o.unpinned') : t('chat.o.pinned')))),
      menuAction(settings.archived ? t('chat.o.unarchive') : t('chat.o.archive'), () => changeSettings(chatId, { archived: !settings.archived })
        .then(() => (settings.archived ? t('chat.o.unarchived') : t('chat.o.archived')))),
    ];
    if (muted) {
      items.push(menuAction(t('chat.mute.unmute'), () => changeSettings(chatId, { muted_until: null })
        .then(() => t('chat.mute.unmuted'))));
    }
    const mute = h('div', { class: 'mute-choices', role: 'group', 'aria-label': mutedLabel(settings.muted_until) || t('chat.mute.title') },
      h('span', { class: 'mute-label', 'aria-hidden': 'true' }, mutedLabel(settings.muted_until) || t('chat.mute.title')),
      MUTES.map(([key, seconds]) => menuAction(t(`chat.mute.${key}`), () => changeSettings(chatId, {
        // A JSON number with a fraction: the route refuses integers for this field.
        muted_until: (seconds === null ? MUTE_ALWAYS : Math.floor(Date.now() / 1000) + seconds) + 0.5,
      }).then((result) => mutedLabel(result.muted_until)))));
    const extra = [];
    if (chat.kind === 'direct' && otherMember(chat)) extra.push(contactNameForm(otherMember(chat)));
    if (chat.kind === 'group') {
      const invite = h('div', { class: 'invite-result' });
      items.push(menuAction(t('chat.o.invite'), async () => {
        const made = await api.post(`/api/chats/${encodeURIComponent(chatId)}/invites`, {});
        invite.replaceChildren(copyShare(made.url, { title: chatTitle(chat), label: t('chat.invite.label') }));
        invite.querySelector('button')?.focus();
      }, {}, { keepOpen: true }));
      items.push(menuAction(t('chat.o.leave'), async () => {
        await api.post(`/api/chats/${encodeURIComponent(chatId)}/leave`, {});
        navigate('/chats', { replace: true });
      }, { class: 'button small danger' }));
      extra.push(invite);
    }
    menu.replaceChildren(h('div', { class: 'actions' }, items), mute, ...extra);
  }

  function contactNameForm(userId) {
    const id = uid('contact');
    const input = h('input', { id, type: 'text', maxlength: 100, value: hasContactName(userId) ? nameOf(userId) : '' });
    const save = h('button', { type: 'submit', class: 'button small' }, t('chat.o.save_name'));
    const form = h('form', { class: 'contact-form' },
      h('label', { for: id }, t('chat.o.their_name')), h('div', { class: 'copy-row' }, input, save),
      h('p', { class: 'field-hint' }, t('chat.o.user_id', { id: userId })));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      setContactName(userId, input.value);
      status.textContent = t('chat.o.name_saved');
      setMenu(false);
      onContactNamed();
    });
    return form;
  }

  return { button, menu };
}
