// The account page's username card: choose or change the username (checked as it is typed), let people find
// you by your e-mail address or not, and your "message me" link with Copy and Share.

import { card, h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { createForm } from '../core/forms.js';
import { describeFailure, messageMeLink, usernameRefusal } from '../people/api.js';
import { usernameField } from '../people/username-field.js';
import { getUser, loadProfile, updateProfile } from './auth.js';

export function usernameSection(signal) {
  const { element } = card(t('people.account.title'), h('p', { class: 'muted' }, t('people.account.intro')));
  const body = h('div');
  element.append(body);
  const show = (user) => body.replaceChildren(...usernameControls(user));
  const cached = getUser();
  if (cached) show(cached);
  // Fresh data replaces the controls only if nobody has touched them yet: a switch flipped while the profile was
  // loading is saved by its own request, and the older answer must not put it back.
  let touched = false;
  for (const type of ['pointerdown', 'keydown', 'input']) {
    body.addEventListener(type, () => { touched = true; }, { capture: true, signal });
  }
  loadProfile({ signal }).then((user) => {
    if (!signal.aborted && !touched) show(user);
  }, () => {}); // the profile card above says when the profile cannot be loaded
  return element;
}

function usernameControls(initial) {
  let user = initial;
  const username = usernameField({
    value: user.username || '', current: user.username || null, hint: `${t('people.username.hint')} ${t('people.account.remove_hint')}`,
  });
  const link = linkControl();
  link.show(user.username);
  const form = createForm({
    fields: [username],
    submitLabel: t('people.account.save'),
    busyLabel: t('people.account.saving'),
    submitClass: 'button',
    validate: () => {
      const problem = username.problem();
      return problem ? { username: problem } : {};
    },
    onSubmit: async () => {
      const name = username.value() || null;
      if (name === (user.username || null)) {
        username.settle(t('people.account.unchanged'));
        return;
      }
      user = await updateProfile({ username: name });
      username.input.value = user.username || '';
      username.settle(t(user.username ? 'people.account.saved' : 'people.account.removed'), 'ok');
      link.show(user.username);
    },
    onError: (err) => {
      const refusal = usernameRefusal(err, username.value());
      username.settle();
      username.setError(refusal || describeFailure(err) || '');
      username.input.focus();
      return true;
    },
  });
  return [form.form, discoverableSwitch(user), link.element];
}

/** The e-mail discoverability switch: saved as soon as it is flipped. */
function discoverableSwitch(user) {
  const id = uid('discoverable');
  const label = h('span', { class: 'switch-label', id: `${id}-label` }, t('people.email.label'));
  const toggle = h('button', {
    type: 'button', class: 'switch', role: 'switch', 'aria-labelledby': `${id}-label`, 'aria-describedby': id,
  }, h('span', { class: 'switch-knob', 'aria-hidden': 'true' }));
  const explain = h('p', { class: 'muted', id, role: 'status' });
  let on = Boolean(user.email_discoverable);
  const show = () => {
    toggle.setAttribute('aria-checked', String(on));
    explain.textContent = t(on ? 'people.email.on' : 'people.email.off');
  };
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    explain.textContent = t('people.email.saving');
    try {
      on = Boolean((await updateProfile({ email_discoverable: !on })).email_discoverable);
      show();
    } catch (err) {
      show();
      explain.textContent = describeFailure(err) || explain.textContent;
    } finally {
      toggle.disabled = false;
    }
  });
  show();
  return h('div', { class: 'switch-row people-switch' }, label, toggle, explain);
}

/** The "message me" link with Copy and (where the browser can) Share; empty-handed without a username. */
function linkControl() {
  const id = uid('message-me');
  const input = h('input', { id, type: 'text', class: 'mono copy-value', readonly: true, spellcheck: 'false' });
  const status = h('span', { class: 'copy-status muted', role: 'status' });
  const copy = h('button', { type: 'button', class: 'button small', 'aria-label': t('people.link.copy_label') },
    t('people.link.copy'));
  const share = h('button', { type: 'button', class: 'button small', 'aria-label': t('people.link.share_label') },
    t('people.link.share'));
  share.hidden = typeof navigator.share !== 'function';
  const none = h('p', { class: 'muted' }, t('people.link.none'));
  const withLink = h('div', { class: 'field copy-field' },
    h('label', { for: id }, t('people.link.label')),
    h('p', { class: 'field-hint' }, t('people.link.hint')),
    h('div', { class: 'copy-row' }, input, copy, share),
    status);
  const element = h('div', { class: 'message-me' });
  let name = null;

  copy.addEventListener('click', async () => {
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(input.value);
        copied = true;
      }
    } catch {
      // fall back to selecting it
    }
    if (!copied) {
      input.focus();
      input.select();
    }
    status.textContent = t(copied ? 'people.link.copied' : 'people.link.selected');
  });
  share.addEventListener('click', () => {
    navigator.share({ text: t('people.link.share_text', { name }), url: input.value }).catch(() => {});
  });

  return {
    element,
    show(username) {
      name = username || null;
      input.value = name ? messageMeLink(name) : '';
      status.textContent = '';
      element.replaceChildren(name ? withLink : none);
    },
  };
}
