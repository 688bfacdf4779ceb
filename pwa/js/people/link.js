// The "message me" link, `#/u/<username>`: the person it names, and a button that opens the direct chat with
// them (the one you already have, or a new one). Signed out, it says to sign in first.

import { isSignedIn } from '../core/api.js';
import { h, isAbort, screen } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { chatList, chatsReady, loadChats, otherMember, whoAmI } from '../chat/store.js';
import { chatPath } from '../chat/chats.js';
import { cleanUsername, describeFailure, findPerson, usernameProblem } from './api.js';
import { openChatWith, personRow } from './person.js';

export function messageMeView({ params, signal, navigate }) {
  const name = cleanUsername(params.get('username'));
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' },
    h('p', { class: 'muted' }, t('people.link_view.loading', { name })));
  const view = screen(t('people.at', { name }), h('div', { class: 'card' }, body));

  if (!isSignedIn()) {
    body.removeAttribute('aria-busy');
    body.replaceChildren(h('p', null, t('people.link_view.signed_out', { name })),
      h('p', { class: 'actions' },
        h('a', { class: 'button primary', href: '#/signin' }, t('people.link_view.sign_in')),
        h('a', { class: 'button', href: '#/register' }, t('people.link_view.register'))));
    return view;
  }
  const notFound = () => h('p', { class: 'notice' }, t('people.link_view.not_found', { name }));
  if (usernameProblem(name)) {
    body.removeAttribute('aria-busy');
    body.replaceChildren(notFound());
    return view;
  }

  Promise.all([findPerson({ username: name }, { signal }), whoAmI({ signal }), (chatsReady() ? Promise.resolve() : loadChats()).catch(() => null)])
    .then(([person, me]) => {
      if (signal.aborted) return;
      body.removeAttribute('aria-busy');
      if (person.id === me) {
        body.replaceChildren(personRow(person), h('p', { class: 'muted' }, t('people.link_view.yours')));
        return;
      }
      // The plain chat: an end-to-end one with them is a choice made elsewhere (New chat), never this link's.
      const existing = chatList().find((chat) => chat.kind === 'direct' && !chat.e2e && otherMember(chat) === person.id);
      const status = h('p', { class: 'status', role: 'status' });
      const start = h('button', { type: 'button', class: 'button primary' },
        t(existing ? 'people.link_view.open' : 'people.link_view.start'));
      start.addEventListener('click', async () => {
        start.disabled = true;
        if (existing) navigate(chatPath(existing.id));
        else await openChatWith(person, navigate, status);
        if (start.isConnected) start.disabled = false;
      });
      body.replaceChildren(personRow(person), h('p', { class: 'actions' }, start), status);
    }, (err) => {
      if (signal.aborted || isAbort(err)) return;
      body.removeAttribute('aria-busy');
      const missing = ['person_not_found', 'invalid_username', 'username_reserved'].includes(err?.code);
      body.replaceChildren(missing ? notFound() : h('p', { class: 'notice error', role: 'alert' }, describeFailure(err)));
    });
  return view;
}
