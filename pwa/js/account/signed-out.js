// The signed-out screens: sign in, register, check your e-mail, forgot password; and the notice the next
// screen shows ("You have signed out.").

import { takePendingJoin } from '../chat/chats.js';
import { ApiError } from '../core/api.js';
import { describeError, h, screen } from '../core/dom.js';
import { actionButton, check, createForm, field, problems } from '../core/forms.js';
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
    name: 'email', label: 'E-mail', type: 'email', autocomplete: 'email', inputmode: 'email',
    spellcheck: 'false', autocapitalize: 'none', maxlength: 254, required: true,
    value: rememberedEmail, ...options,
  });
}

/** A "send the confirmation link again" button with its own status line. */
function resendControl(getEmail) {
  const status = h('p', { class: 'status', role: 'status' });
  const button = actionButton({
    label: 'Send the link again',
    busyLabel: 'Sending…',
    status,
    onClick: async () => {
      const email = getEmail();
      await resendVerification(email);
      return `If ${email} has an account waiting for confirmation, a new link is on its way.`;
    },
  });
  return h('div', { class: 'resend' }, button, status);
}

export function signInView({ navigate }) {
  const email = emailField({ autocomplete: 'username' });
  const password = field({
    name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const form = createForm({
    fields: [email, password],
    submitLabel: 'Sign in',
    busyLabel: 'Signing in…',
    validate: (v) => problems({
      email: check.email(v.email),
      password: check.required(v.password, 'Enter your password.'),
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
  return screen('Sign in',
    flashNotice(),
    form.form,
    h('p', { class: 'links' }, link('#/forgot', 'Forgot your password?')),
    h('p', { class: 'links' }, 'New here? ', link('#/register', 'Create an account')));
}

export function registerView({ navigate }) {
  const displayName = field({
    name: 'display_name', label: 'Display name', autocomplete: 'nickname', required: true, maxlength: 100,
    hint: 'Shown to the people you chat with.',
  });
  const email = emailField();
  const password = field({
    name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true,
    minlength: 10, hint: 'At least 10 characters. A few unrelated words make a strong one.',
  });
  const username = usernameField();
  const form = createForm({
    fields: [displayName, username, email, password],
    submitLabel: 'Create account',
    busyLabel: 'Creating account…',
    validate: (v) => problems({
      display_name: check.required(v.display_name, 'Enter the name people will see.'),
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
  return screen('Create an account',
    form.form,
    h('p', { class: 'links' }, 'Already have an account? ', link('#/signin', 'Sign in')));
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
      submitLabel: 'Send the link again',
      busyLabel: 'Sending…',
      submitClass: 'button',
      validate: (v) => problems({ email: check.email(v.email) }),
      onSubmit: async (v) => {
        status.textContent = '';
        await resendVerification(v.email);
        status.textContent = `If ${v.email} has an account waiting for confirmation, a new link is on its way.`;
      },
      after: [status],
    }).form;
  }
  return screen('Check your e-mail',
    h('p', null,
      email ? ['We sent a confirmation link to ', h('strong', null, email), '.'] : 'We sent you a confirmation link.',
      ' Open it to activate your account, then come back here and sign in.'),
    h('p', { class: 'muted' }, 'Nothing arrived after a few minutes? Look in your spam folder, or send the link again.'),
    resend,
    h('p', { class: 'links' }, link('#/signin', 'Back to sign in')));
}

export function forgotView() {
  const email = emailField();
  const body = h('div');
  const form = createForm({
    fields: [email],
    submitLabel: 'Send reset link',
    busyLabel: 'Sending…',
    validate: (v) => problems({ email: check.email(v.email) }),
    onSubmit: async (v) => {
      await requestPasswordReset(v.email);
      rememberedEmail = v.email;
      const done = h('p', { class: 'notice success', role: 'status', tabindex: '-1' },
        'If an account uses ', h('strong', null, v.email),
        ', we have sent it a link to choose a new password. Open the link, set the new password, then sign in here.');
      body.replaceChildren(done);
      done.focus();
    },
  });
  body.append(
    h('p', null, 'Enter the e-mail address of your account and we will send you a link to choose a new password.'),
    form.form);
  return screen('Reset your password',
    body,
    h('p', { class: 'links' }, link('#/signin', 'Back to sign in')));
}
