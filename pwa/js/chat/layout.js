// The chat screens' frame. Wide screens: the chat list beside the open conversation (two panes). Phones: one
// at a time, and an open conversation full-screen, with its own back button and no app bar above it. A skip
// link, first in the page, leads past the navigation (and the list) to what the screen is for.

import { h } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { chatListPane } from './list.js';

/**
 * `main`: the conversation pane ({element, focusTarget()}) or null on the Chats screen (the list alone on a
 * phone; beside a placeholder on a wide screen).
 */
export function chatLayout({ signal, openChatId = null, main = null }) {
  const list = chatListPane({ signal, activeId: openChatId, level: main ? 2 : 1 });
  const placeholder = h('div', { class: 'chat-placeholder' },
    h('p', { class: 'muted' }, t('chat.layout.choose')));
  const layout = h('div', { class: main ? 'chat-layout has-conversation' : 'chat-layout' },
    list.element, h('div', { class: 'chat-main-pane' }, main ? main.element : placeholder));

  const skip = h('a', { class: 'skip-link', href: location.hash || '#/chats' },
    main ? t('chat.layout.skip_conversation') : t('chat.layout.skip_list'));
  skip.addEventListener('click', (event) => {
    event.preventDefault();
    const target = (main || list).focusTarget();
    if (target) target.focus();
  });
  document.body.prepend(skip);
  document.body.classList.toggle('chat-open', Boolean(main));
  signal.addEventListener('abort', () => {
    skip.remove();
    document.body.classList.remove('chat-open');
  }, { once: true });
  return layout;
}
