// A person as the people screens show one (avatar, name, @username, a Message button), and opening the direct
// chat with them: the existing one if there is one, else a new one (the server finds or makes it).

import { h } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { chatPath, initials } from '../chat/chats.js';
import { createDirect, myId } from '../chat/store.js';
import { describeFailure } from './api.js';

/** Open the direct chat with `person` (`e2e`: end-to-end encrypted if made now); a failure goes into `status`. */
export async function openChatWith(person, navigate, status, e2e = false) {
  try {
    const chat = await createDirect(person.id, { e2e });
    navigate(chatPath(chat.id));
  } catch (err) {
    const message = describeFailure(err);
    if (message && status) status.textContent = message;
  }
}

/** A Message button for `person` that opens the chat with them (end-to-end encrypted when `e2e()` says so). */
export function messageButton(person, navigate, status, label = t('people.message'), e2e = () => false) {
  const button = h('button', {
    type: 'button', class: 'button small', 'aria-label': t('people.message_label', { name: person.display_name }),
  }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = t('people.opening');
    await openChatWith(person, navigate, status, e2e());
    if (button.isConnected) {
      button.disabled = false;
      button.textContent = label;
    }
  });
  return button;
}

/** The avatar, name and @username of a person; `action` (a button) goes at the end of the row. */
export function personRow(person, action = null, tag = 'div') {
  const me = person.id === myId();
  return h(tag, { class: 'person' },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(person.display_name)),
    h('span', { class: 'person-body' },
      h('span', { class: 'person-name' }, person.display_name,
        me ? h('span', { class: 'badge' }, t('people.you')) : null),
      person.username ? h('span', { class: 'person-username' }, t('people.at', { name: person.username })) : null),
    me ? null : action);
}
