// "New chat" as a messenger has it: find a person by @username or exact e-mail address, or pick one of your
// contacts (the people you share chats with), and open the direct chat with them. Groups start from a link.

import { ApiError } from '../core/api.js';
import { card, h, isAbort, wideScreen } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { createForm, field } from '../core/forms.js';
import { e2eChoice } from '../chat/chats.js';
import { whoAmI } from '../chat/store.js';
import { cleanUsername, describeFailure, findPerson, listContacts, usernameProblem } from './api.js';
import { messageButton, personRow } from './person.js';

export function findPersonView({ signal, navigate }) {
  return wideScreen(t('people.find.title'),
    h('p', { class: 'links' }, h('a', { href: '#/chats' }, t('people.back'))),
    findCard(navigate),
    contactsCard(signal, navigate),
    card(t('people.group.title'),
      h('p', { class: 'muted' }, t('people.group.text')),
      h('p', { class: 'actions' }, h('a', { class: 'button', href: '#/chats/new-group' }, t('people.group.link'))))
      .element);
}

/** What was typed, as a lookup: {email} when it has an @ inside, else {username}; or {problem}. */
function lookupOf(text) {
  const typed = text.trim();
  if (!typed) return { problem: t('people.find.empty') };
  if (typed.slice(1).includes('@')) {
    return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(typed) ? { email: typed } : { problem: t('people.find.bad_email') };
  }
  const username = cleanUsername(typed);
  const problem = usernameProblem(username);
  return problem ? { problem } : { username };
}

function findCard(navigate) {
  const query = field({
    name: 'query', label: t('people.find.label'), hint: t('people.find.hint'), maxlength: 254, required: true,
    autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false',
  });
  const result = h('div', { class: 'find-result', 'aria-live': 'polite' });
  const status = h('p', { class: 'status', role: 'status' });
  const e2e = e2eChoice(); // which of the two direct chats the Message button opens (or makes)
  const form = createForm({
    fields: [query, e2e],
    submitLabel: t('people.find.submit'),
    busyLabel: t('people.find.busy'),
    after: [result, status],
    validate: (v) => {
      const { problem } = lookupOf(v.query);
      return problem ? { query: problem } : {};
    },
    onSubmit: async (v) => {
      result.replaceChildren();
      status.textContent = '';
      const lookup = lookupOf(v.query);
      const person = await findPerson(lookup);
      result.replaceChildren(h('h3', { class: 'visually-hidden' }, t('people.find.result')),
        personRow(person, messageButton(person, navigate, status, undefined, () => e2e.input.checked)));
      if (person.id === await whoAmI()) status.textContent = t('people.find.self');
    },
    onError: (err) => {
      if (err instanceof ApiError && err.code === 'person_not_found') {
        const lookup = lookupOf(query.input.value);
        query.setError(lookup.email ? t('people.find.not_found_email')
          : t('people.find.not_found_username', { name: lookup.username }));
      } else {
        query.setError(describeFailure(err) || '');
      }
      query.input.focus();
      return true;
    },
  });
  return card(t('people.find.card'), form.form).element;
}

function contactsCard(signal, navigate) {
  const list = h('ul', { class: 'person-list', 'aria-label': t('people.contacts.list') });
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('people.contacts.loading')));
  const status = h('p', { class: 'status', role: 'status' });
  const more = h('button', { type: 'button', class: 'button', hidden: true }, t('people.contacts.more'));
  let cursor = null;

  async function load() {
    const page = await listContacts({ cursor, signal });
    if (signal.aborted) return;
    list.append(...page.contacts.map((person) => personRow(person, messageButton(person, navigate, status), 'li')));
    cursor = page.next;
    more.hidden = !cursor;
    body.removeAttribute('aria-busy');
    body.replaceChildren(list.children.length ? list : h('p', { class: 'muted' }, t('people.contacts.empty')));
  }

  function failed(err) {
    if (signal.aborted || isAbort(err)) return;
    body.removeAttribute('aria-busy');
    const retry = h('button', { type: 'button', class: 'button' }, t('people.retry'));
    retry.addEventListener('click', () => {
      body.replaceChildren(h('p', { class: 'muted' }, t('people.contacts.loading')));
      load().catch(failed);
    });
    body.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, describeFailure(err)), retry);
  }

  more.addEventListener('click', async () => {
    more.disabled = true;
    more.textContent = t('people.contacts.loading_more');
    try {
      await load();
    } catch (err) {
      status.textContent = describeFailure(err) || '';
    } finally {
      more.disabled = false;
      more.textContent = t('people.contacts.more');
    }
  });

  load().catch(failed);
  return card(t('people.contacts.title'),
    h('p', { class: 'muted' }, t('people.contacts.intro')), body, h('div', { class: 'actions' }, more), status).element;
}
