// The signed-out screens: sign in, register, check your e-mail, forgot password; and the notice the next
// screen shows ("You have signed out.").

import { takePendingJoin } from '../chat/chats.js';
import { ApiError } from '../core/api.js';
import { describeError, h, screen, textWith } from '../core/dom.js';
import { actionButton, check, createForm, field, problems } from '../core/forms.js';
import { t } from '../core/i18n.js';
import { usernameField } from '../people/username-field.js';
import { usernameRefusal } from '../people/api.js';
import { register, requestPasswordReset, resendVerification, signIn } from './auth.js';

// Kept in memory only, so the next screen can prefill or mention the address just typed.
let rememberedEmail = '';
let flash = null;

/** A notice for the next screen that is shown ("You have signed out."). */
export function setFlash(message, kind = 'info') {
  flash = { message, kind };
}

function flashNotice() {
  if (!flash) return null;
  const { message, kind } = flash;
  flash = null;
  return h('p', { class: `notice ${kind}`, role: 'status' }, message);
}

function link(href, text) {
  return h('a', { href }, text);
}

function emailField(options = {}) {
  return field({
    name: 'email', label: t('account.email'), type: 'email', autocomplete: 'email', inputmode: 'email',
    spellcheck: 'false', autocapitalize: 'none', maxlength: 254, required: true,
    value: rememberedEmail, ...options,
  });
}

/** A "send the confirmation link again" button with its own status line. */
function resendControl(getEmail) {
  const status = h('p', { class: 'status', role: 'status' });
  const button = actionButton({
    label: t('account.resend'),
    busyLabel: t('account.sending'),
    status,
    onClick: async () => {
      const email = getEmail();
      await resendVerification(email);
      return t('account.resent', { email });
    },
  });
  return h('div', { class: 'resend' }, button, status);
}

export function signInView({ navigate }) {
  const email = emailField({ autocomplete: 'username' });
  const password = field({
    name: 'password', label: t('account.password'), type: 'password', autocomplete: 'current-password', required: true,
  });
  const form = createForm({
    fields: [email, password],
    submitLabel: t('account.signin.submit'),
    busyLabel: t('account.signin.busy'),
    validate: (v) => problems({
      email: check.email(v.email),
      password: check.required(v.password, t('account.signin.password_empty')),
    }),
    onSubmit: async (v) => {
      rememberedEmail = v.email;
      await signIn(v.email, v.password);
      navigate(takePendingJoin() || '/chats', { replace: true });
    },
    onError: (err, f) => {
      if (err instanceof ApiError && err.code === 'email_not_verified') {
        f.showFormError(describeError(err), resendControl(() => f.values().email));
        return true;
      }
      return false;
    },
  });
  return screen(t('account.signin.title'),
    flashNotice(),
    form.form,
    h('p', { class: 'links' }, link('#/forgot', t('account.signin.forgot'))),
    h('p', { class: 'links' }, ...textWith('account.signin.new', { link: link('#/register', t('account.signin.register')) })));
}

export function registerView({ navigate }) {
  const displayName = field({
    name: 'display_name', label: t('account.display_name'), autocomplete: 'nickname', required: true, maxlength: 100,
    hint: t('account.register.name_hint'),
  });
  const email = emailField();
  const password = field({
    name: 'password', label: t('account.password'), type: 'password', autocomplete: 'new-password', required: true,
    minlength: 10, hint: t('account.register.password_hint'),
  });
  const username = usernameField();
  const form = createForm({
    fields: [displayName, username, email, password],
    submitLabel: t('account.register.submit'),
    busyLabel: t('account.register.busy'),
    validate: (v) => problems({
      display_name: check.required(v.display_name, t('account.display_name_empty')),
      email: check.email(v.email),
      password: check.newPassword(v.password),
      username: username.problem(),
    }),
    onSubmit: async (v) => {
      await register({ ...v, username: username.value() });
      rememberedEmail = v.email;
      navigate('/check-email');
    },
    onError: (err) => {
      const refusal = usernameRefusal(err, username.value());
      if (!refusal) return false;
      username.setError(refusal);
      username.input.focus();
      return true;
    },
  });
  return screen(t('account.register.title'),
    form.form,
    h('p', { class: 'links' }, ...textWith('account.register.have', { link: link('#/signin', t('account.signin.submit')) })));
}

export function checkEmailView() {
  const email = rememberedEmail;
  let resend;
  if (email) {
    resend = resendControl(() => email);
  } else {
    const emailInput = emailField({ value: '' });
    const status = h('p', { class: 'status', role: 'status' });
    resend = createForm({
      fields: [emailInput],
      submitLabel: t('account.resend'),
      busyLabel: t('account.sending'),
      submitClass: 'button',
      validate: (v) => problems({ email: check.email(v.email) }),
      onSubmit: async (v) => {
        status.textContent = '';
        await resendVerification(v.email);
        status.textContent = t('account.resent', { email: v.email });
      },
      after: [status],
    }).form;
  }
  return screen(t('account.check.title'),
    h('p', null, email
      ? textWith('account.check.sent_to', { email: h('strong', null, email) })
      : t('account.check.sent')),
    h('p', { class: 'muted' }, t('account.check.nothing')),
    resend,
    h('p', { class: 'links' }, link('#/signin', t('account.back_to_signin'))));
}

export function forgotView() {
  const email = emailField();
  const body = h('div');
  const form = createForm({
    fields: [email],
    submitLabel: t('account.forgot.submit'),
    busyLabel: t('account.sending'),
    validate: (v) => problems({ email: check.email(v.email) }),
    onSubmit: async (v) => {
      await requestPasswordReset(v.email);
      rememberedEmail = v.email;
      const done = h('p', { class: 'notice success', role: 'status', tabindex: '-1' },
        ...textWith('account.forgot.sent', { email: h('strong', null, v.email) }));
      body.replaceChildren(done);
      done.focus();
    },
  });
  body.append(
    h('p', null, t('account.forgot.intro')),
    form.form);
  return screen(t('account.forgot.title'),
    body,
    h('p', { class: 'links' }, link('#/signin', t('account.back_to_signin'))));
}
