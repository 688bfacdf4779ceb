// The username field of the sign-up form and the account page: the rules checked as the user types, then,
// after a pause, whether the name is free (asked of the server, which has the last word when the form is sent).

import { h } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { field } from '../core/forms.js';
import { checkUsername, cleanUsername, usernameProblem } from './api.js';

const PAUSE_MS = 350;

/**
 * A `field()` named "username" (createForm takes it as it is), plus `problem()` for the form's validate step:
 * the rule the typed name breaks, or null. `current` is the user's own username (it counts as free for them);
 * `required` false makes an empty field fine.
 */
export function usernameField({ value = '', current = null, required = false, hint = null } = {}) {
  const input = field({
    name: 'username', label: t('people.username.label'), value, required, maxlength: 33,
    autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false',
    hint: hint || t('people.username.hint'),
  });
  const status = h('p', { class: 'field-status', 'aria-live': 'polite' });
  input.wrap.append(status);
  let timer = 0;
  let asking = null;

  const own = (name) => current !== null && name.toLowerCase() === current.toLowerCase();

  function say(text, kind = '') {
    status.textContent = text;
    status.dataset.kind = kind;
  }

  async function ask(name) {
    asking?.abort();
    asking = new AbortController();
    const { signal } = asking;
    say(t('people.username.checking', { name }));
    try {
      const answer = await checkUsername(name, { signal });
      if (signal.aborted || cleanUsername(input.input.value) !== name) return;
      if (answer.available) say(t('people.username.available', { name }), 'ok');
      else {
        say('');
        input.setError(t(answer.reason === 'reserved' ? 'people.username.reserved' : 'people.username.taken', { name }));
      }
    } catch (err) {
      if (!signal.aborted && err?.name !== 'AbortError') say(t('people.username.unchecked'));
    }
  }

  input.input.addEventListener('input', () => {
    clearTimeout(timer);
    asking?.abort();
    input.clear();
    say('');
    const name = cleanUsername(input.input.value);
    if (!name) return;
    if (own(name)) {
      say(t('people.username.yours', { name }), 'ok');
      return;
    }
    const problem = usernameProblem(name);
    if (problem) {
      // Wait for a pause before scolding: "a" is on its way to "ada".
      timer = setTimeout(() => input.setError(problem), PAUSE_MS);
      return;
    }
    timer = setTimeout(() => ask(name), PAUSE_MS);
  });

  return {
    ...input,
    status,
    value: () => cleanUsername(input.input.value),
    problem() {
      const name = cleanUsername(input.input.value);
      if (!name) return null;
      return usernameProblem(name);
    },
    /** Forget the pending check (the form was sent) and say `text` under the field. */
    settle(text = '', kind = '') {
      clearTimeout(timer);
      asking?.abort();
      say(text, kind);
    },
  };
}
