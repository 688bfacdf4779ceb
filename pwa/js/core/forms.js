// Accessible form building: labelled fields, errors announced next to their field, busy buttons.

import { ApiError } from './api.js';
import { describeError, h, isAbort, uid } from './dom.js';
import { formatNumber, t, tn } from './i18n.js';

/**
 * A labelled input with a hint and an error line wired through aria-describedby.
 * @returns {{name: string, wrap: HTMLElement, input: HTMLInputElement, setError(msg: string): void, clear(): void}}
 */
export function field({
  name, label, type = 'text', value = '', hint = null, autocomplete = null, required = false,
  inputmode = null, minlength = null, maxlength = null, readonly = false, spellcheck = null,
  autocapitalize = null,
}) {
  const id = uid(`field-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h('input', {
    id, name, type, value, autocomplete, inputmode, minlength, maxlength, required, readonly,
    spellcheck, autocapitalize, 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
  });
  const error = h('p', { id: errorId, class: 'field-error', 'aria-live': 'polite' });
  const control = type === 'password' ? passwordControl(input) : input;
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label, required ? null : h('span', { class: 'optional' }, ` ${t('core.form.optional')}`)),
    hint ? h('p', { id: hintId, class: 'field-hint' }, hint) : null,
    control,
    error);

  return {
    name,
    wrap,
    input,
    setError(message) {
      error.textContent = message;
      input.setAttribute('aria-invalid', 'true');
      wrap.classList.add('has-error');
    },
    clear() {
      error.textContent = '';
      input.removeAttribute('aria-invalid');
      wrap.classList.remove('has-error');
    },
  };
}

function passwordControl(input) {
  const toggle = h('button', {
    type: 'button', class: 'reveal', 'aria-controls': input.id, 'aria-pressed': 'false',
    'aria-label': t('core.password.show_label'),
  }, t('core.password.show'));
  toggle.addEventListener('click', () => {
    const show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    toggle.setAttribute('aria-pressed', String(show));
    toggle.setAttribute('aria-label', t(show ? 'core.password.hide_label' : 'core.password.show_label'));
    toggle.textContent = t(show ? 'core.password.hide' : 'core.password.show');
    input.focus();
  });
  return h('div', { class: 'password-control' }, input, toggle);
}

/**
 * A form that validates, submits once at a time and shows errors where they belong.
 * `validate(values)` returns {field: message} for client-side problems; `onSubmit(values)` does the
 * work; `onError(err, form)` may return true when it has shown the error itself.
 */
export function createForm({
  fields, submitLabel, busyLabel = t('core.form.busy'), validate = null, onSubmit, onError = null,
  before = [], after = [], submitClass = 'button primary',
}) {
  const byName = new Map(fields.map((f) => [f.name, f]));
  const formError = h('div', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: submitClass }, submitLabel);
  const form = h('form', { novalidate: true, class: 'stack' },
    formError, before, fields.map((f) => f.wrap), h('div', { class: 'actions' }, button), after);

  let busy = false;
  let cooldownUntil = 0;

  function updateButton() {
    const waiting = Math.ceil((cooldownUntil - Date.now()) / 1000);
    button.disabled = busy || waiting > 0;
    if (busy) button.textContent = busyLabel;
    else if (waiting > 0) button.textContent = waitingLabel(submitLabel, waiting);
    else button.textContent = submitLabel;
    if (busy) form.setAttribute('aria-busy', 'true');
    else form.removeAttribute('aria-busy');
  }

  function startCooldown(seconds) {
    cooldownUntil = Date.now() + seconds * 1000;
    updateButton();
    const timer = setInterval(() => {
      if (!form.isConnected || Date.now() >= cooldownUntil) {
        clearInterval(timer);
        cooldownUntil = 0;
      }
      updateButton();
    }, 1000);
  }

  const controller = {
    form,
    button,
    fields: byName,
    values() {
      const values = {};
      for (const f of fields) values[f.name] = f.input.type === 'password' ? f.input.value : f.input.value.trim();
      return values;
    },
    clearErrors() {
      formError.textContent = '';
      for (const f of fields) f.clear();
    },
    /** Show a message at the top of the form; `extra` nodes (a button, a link) follow it. */
    showFormError(message, ...extra) {
      formError.replaceChildren(h('p', null, message), ...extra);
    },
    showError(err) {
      const message = describeError(err);
      if (message === null) return;
      if (err instanceof ApiError && err.status === 429 && err.retryAfter) startCooldown(err.retryAfter);
      const target = err instanceof ApiError && err.field ? byName.get(err.field) : null;
      if (target && err.status !== 429) {
        target.setError(message);
        target.input.focus();
      } else {
        controller.showFormError(message);
      }
    },
    setBusy(value) {
      busy = value;
      updateButton();
    },
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy || Date.now() < cooldownUntil) return;
    controller.clearErrors();
    const values = controller.values();
    const problems = validate ? validate(values) : null;
    const names = problems ? Object.keys(problems) : [];
    if (names.length) {
      for (const name of names) byName.get(name)?.setError(problems[name]);
      byName.get(names[0])?.input.focus();
      return;
    }
    controller.setBusy(true);
    try {
      await onSubmit(values, controller);
    } catch (err) {
      if (!isAbort(err) && !(onError && onError(err, controller))) controller.showError(err);
    } finally {
      controller.setBusy(false);
    }
  });

  return controller;
}

/** Client-side checks shared by the screens; the server checks again and has the last word. */
export const check = {
  email(value) {
    if (!value) return t('core.check.email_empty');
    if (!/^[^\s@]+@[^\s@]+$/.test(value)) return t('core.check.email_form');
    return null;
  },
  newPassword(value, min = 10) {
    const length = [...value].length;
    if (length < min) return tn('core.check.password_short', min, { typed: formatNumber(length) });
    return null;
  },
  required(value, message) {
    return value ? null : message;
  },
};

/** A button's label while it waits out a 429: "Send (12 s)". */
function waitingLabel(label, seconds) {
  return t('core.form.waiting', { label, seconds: formatNumber(seconds) });
}

/** Collect the non-null messages of a {field: message|null} map. */
export function problems(map) {
  return Object.fromEntries(Object.entries(map).filter(([, message]) => message));
}

/**
 * A button for a one-off action (resend, end session, sign out). It is disabled while working,
 * waits out a 429's Retry-After, and writes the outcome into `status` (an aria-live element).
 * `onClick` may return a message to show on success.
 */
export function actionButton({ label, busyLabel = t('core.form.busy'), className = 'button', onClick, status, attrs = {} }) {
  const button = h('button', { type: 'button', class: className, ...attrs }, label);
  let busy = false;
  let until = 0;

  function update() {
    const waiting = Math.ceil((until - Date.now()) / 1000);
    button.disabled = busy || waiting > 0;
    button.textContent = busy ? busyLabel : waiting > 0 ? waitingLabel(label, waiting) : label;
  }

  button.addEventListener('click', async () => {
    if (busy || Date.now() < until) return;
    busy = true;
    update();
    if (status) status.textContent = '';
    try {
      const message = await onClick();
      if (status && typeof message === 'string') status.textContent = message;
    } catch (err) {
      const message = describeError(err);
      if (message !== null && status) status.textContent = message;
      if (err instanceof ApiError && err.status === 429 && err.retryAfter) {
        until = Date.now() + err.retryAfter * 1000;
        const timer = setInterval(() => {
          if (!button.isConnected || Date.now() >= until) clearInterval(timer);
          update();
        }, 1000);
      }
    } finally {
      busy = false;
      if (button.isConnected) update();
    }
  });
  return button;
}
