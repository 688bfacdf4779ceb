// The texts of index.html itself (navigation, "Loading…"): written there in English for a browser without
// JavaScript, and set from the catalogue at start and after each language switch. An element names its text's key
// in `data-i18n` and its aria-label's in `data-i18n-label`.

import { t } from './i18n.js';

export function labelPage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}
