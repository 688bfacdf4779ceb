// The app's languages: English and Russian. Every string shown to people comes from a catalogue through `t`;
// dates, times and numbers go through Intl in the chosen language.
//
// Each area keeps its strings in `<area>/strings.js`, exported as `{ en: { key: text }, ru: { key: text } }`,
// listed in `js/strings.js`, and added once at start (app.js). Keys are dotted by area: `chat.forward.title`.
// Texts take `{name}` placeholders: t('chat.typing', { name: 'Bob' }). Counted texts have one key per plural
// category of the language (Intl.PluralRules: English one/other, Russian one/few/many/other) and are read
// with `tn('chat.members', count)`, which also passes `{count}`, formatted as a number.

import { loadJson, saveJson } from './storage.js';

export const LANGUAGES = { en: 'English', ru: 'Русский' };
const STORE_KEY = 'realtime.language';

const catalogues = { en: {}, ru: {} };
const listeners = new Set();
let current = initialLanguage();
let formats = makeFormats(current);

/** The language chosen on this device, else the first of the browser's languages we have, else English. */
function initialLanguage() {
  const chosen = loadJson(STORE_KEY, null);
  if (chosen in LANGUAGES) return chosen;
  for (const tag of navigator.languages || [navigator.language]) {
    const base = String(tag || '').toLowerCase().split('-')[0];
    if (base in LANGUAGES) return base;
  }
  return 'en';
}

/** Add an area's strings (see the top of this file). */
export function addStrings(strings) {
  for (const lang of Object.keys(LANGUAGES)) Object.assign(catalogues[lang], strings[lang] || {});
}

/** The current language's code: 'en' or 'ru'. */
export function language() {
  return current;
}

/**
 * Switch language (kept on this device unless `keep` is false: an embed on another site speaks the page's language
 * without changing the app's choice); listeners re-render. Returns false for a language we lack.
 */
export function setLanguage(lang, { keep = true } = {}) {
  if (!(lang in LANGUAGES)) return false;
  current = lang;
  formats = makeFormats(lang);
  if (keep) saveJson(STORE_KEY, lang);
  document.documentElement.lang = lang;
  for (const listener of listeners) listener(lang);
  return true;
}

/** Call `listener(lang)` after each switch; returns the function that stops it. */
export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The text under `key` in the current language (English when it lacks one), with `{name}` filled from params. */
export function t(key, params) {
  const text = catalogues[current][key] ?? catalogues.en[key];
  if (text === undefined) {
    console.warn(`i18n: no text for ${key}`);
    return key;
  }
  return params ? fill(text, params) : text;
}

/** The counted text under `key.<plural category>` for `count`; `{count}` is the count as a number. */
export function tn(key, count, params = {}) {
  const category = formats.plural.select(count);
  const name = `${key}.${category}`;
  const exists = (lang) => catalogues[lang][name] !== undefined;
  const chosen = exists(current) || exists('en') ? name : `${key}.other`;
  return t(chosen, { ...params, count: formats.number.format(count) });
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

function makeFormats(lang) {
  return {
    plural: new Intl.PluralRules(lang),
    number: new Intl.NumberFormat(lang),
    dateTime: new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }),
    date: new Intl.DateTimeFormat(lang, { dateStyle: 'long' }),
    time: new Intl.DateTimeFormat(lang, { timeStyle: 'short' }),
    relative: new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }),
  };
}

/** A number in the current language (`options` as Intl.NumberFormat's). */
export function formatNumber(value, options) {
  return options ? new Intl.NumberFormat(current, options).format(value) : formats.number.format(value);
}

/** A Date (or epoch seconds) as date and time, date alone, or time alone, in the current language. */
export function formatDateTime(value, style = 'dateTime') {
  const date = value instanceof Date ? value : new Date(value * 1000);
  return formats[style].format(date);
}

/** `amount` of `unit` (Intl.RelativeTimeFormat's units) from now: "5 minutes ago", "вчера". */
export function formatRelative(amount, unit) {
  return formats.relative.format(amount, unit);
}

document.documentElement.lang = current;
