// The account page's language switch: English or Русский, kept on this device and saved to the account, so the
// e-mails the server sends and the pages their links open are in it too.

import { card, h } from '../core/dom.js';
import { LANGUAGES, language, setLanguage, t } from '../core/i18n.js';
import { updateProfile } from './auth.js';

const SELECT_ID = 'language-choice';
let notSaved = false; // shown by the card drawn after the switch

export function languageSection() {
  const select = h('select', { id: SELECT_ID, name: 'language', 'aria-describedby': `${SELECT_ID}-hint` },
    Object.entries(LANGUAGES).map(([code, name]) =>
      h('option', { value: code, lang: code, selected: code === language() }, name)));
  const status = h('p', { class: 'status', role: 'status' }, notSaved ? t('account.language.not_saved') : '');
  notSaved = false;
  select.addEventListener('change', async () => {
    const chosen = select.value;
    select.disabled = true;
    try {
      await updateProfile({ language: chosen });
    } catch {
      notSaved = true; // this device switches all the same
    }
    select.disabled = false;
    select.focus(); // the redrawn screen gives focus back to the switch (core/router.js: refresh)
    setLanguage(chosen); // the screen is drawn again in it
  });
  const { element } = card(t('account.language.title'),
    h('div', { class: 'field' },
      h('label', { for: SELECT_ID }, t('account.language.label')),
      h('p', { class: 'field-hint', id: `${SELECT_ID}-hint` }, t('account.language.hint')),
      select),
    status);
  return element;
}
