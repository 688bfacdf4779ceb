// DOM and formatting helpers. Elements are built node by node; text is never parsed as HTML.

import { ApiError } from './api.js';
import { formatDateTime, formatRelative, language, t, tn } from './i18n.js';

/**
 * Create an element. `attrs`: `class`, `text`, `on<event>` listeners, `value`, booleans (true sets
 * the attribute, false/null/undefined leaves it out), anything else via setAttribute.
 */
export function h(tag, attrs = null, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'value') el.value = value;
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/**
 * A catalogue text with elements in it: t(key)'s `{name}` placeholders replaced by `params[name]`, which may be
 * nodes (a <strong>, a link). Returns the pieces for h(): textWith('x.sent_to', { email: h('strong', null, a) }).
 */
export function textWith(key, params) {
  return t(key).split(/\{(\w+)\}/).map((piece, i) => (i % 2 === 1 && piece in params ? params[piece] : piece));
}

let nextId = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A screen: a labelled section whose first child is its <h1>. */
export function screen(title, ...children) {
  return screenOf('narrow', title, children);
}

export function wideScreen(title, ...children) {
  return screenOf('wide', title, children);
}

function screenOf(width, title, children) {
  const id = uid('title');
  return h('section', { class: `screen ${width}`, 'aria-labelledby': id }, h('h1', { id }, title), children);
}

/** A card on a screen: a section labelled by its <h2> (focusable, so a screen can move focus to it). */
export function card(title, ...children) {
  const id = uid('card');
  const heading = h('h2', { id, tabindex: '-1' }, title);
  return { heading, element: h('section', { class: 'card', 'aria-labelledby': id }, heading, children) };
}

// Error codes with a sentence of their own (core/strings.js: core.error.<code>).
const CODE_MESSAGES = new Set([
  'invalid_credentials', 'email_not_verified', 'token_expired', 'invalid_refresh_token', 'not_signed_in',
  'network_error', 'bad_response',
]);

/** The sentence to show for a failed call, or null when there is nothing to show (aborted). */
export function describeError(err) {
  if (err && err.name === 'AbortError') return null;
  if (!(err instanceof ApiError)) {
    console.error(err);
    return t('core.error.unexpected');
  }
  if (CODE_MESSAGES.has(err.code)) return t(`core.error.${err.code}`);
  if (err.status === 0) return err.message;
  if (err.status === 429) return err.retryAfter ? tn('core.error.wait', err.retryAfter) : t('core.error.too_many');
  if (err.status >= 500) return t('core.error.server');
  if (!err.serverMessage) return t('core.error.refused');
  // The server writes its sentences in the language the app asks for; one it had only in English comes after a
  // sentence in the app's language.
  if (err.language === language()) return err.serverMessage;
  return t('core.error.server_said', { message: err.serverMessage });
}

/** An alert with the sentence for a failed call, or null when there is nothing to show (aborted). */
export function errorNotice(err) {
  const message = describeError(err);
  return message ? h('p', { class: 'notice error', role: 'alert' }, message) : null;
}

export function isAbort(err) {
  return Boolean(err && err.name === 'AbortError');
}

const UNITS = [
  ['year', 365 * 86400], ['month', 30 * 86400], ['week', 7 * 86400],
  ['day', 86400], ['hour', 3600], ['minute', 60],
];

/**
 * A <time> element for a server timestamp (seconds since the epoch): relative text ("2 hours ago")
 * or, with `dateOnly`, the calendar date; the exact time is in the title.
 */
export function timeElement(seconds, { dateOnly: asDate = false } = {}) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return h('span', { text: t('core.time.unknown') });
  const date = new Date(seconds * 1000);
  const text = asDate ? formatDateTime(date, 'date') : relativeTime(seconds);
  return h('time', { datetime: date.toISOString(), title: formatDateTime(date) }, text);
}

export function relativeTime(seconds) {
  const diff = seconds - Date.now() / 1000;
  const abs = Math.abs(diff);
  if (abs < 60) return t('core.time.now');
  for (const [unit, size] of UNITS) {
    if (abs >= size) return formatRelative(Math.round(diff / size), unit);
  }
  return t('core.time.now');
}

/** A short "Browser on OS" label from a user-agent string. */
export function describeUserAgent(ua) {
  if (!ua || typeof ua !== 'string') return '';
  const browser = [
    [/Edg(e|A|iOS)?\//, 'Edge'], [/OPR\/|Opera/, 'Opera'], [/SamsungBrowser\//, 'Samsung Internet'],
    [/Firefox\/|FxiOS\//, 'Firefox'], [/Chrome\/|CriOS\//, 'Chrome'], [/Safari\//, 'Safari'],
  ].find(([re]) => re.test(ua));
  const os = [
    [/iPhone|iPad|iPod/, 'iOS'], [/Android/, 'Android'], [/CrOS/, 'ChromeOS'],
    [/Windows/, 'Windows'], [/Mac OS X|Macintosh/, 'macOS'], [/Linux/, 'Linux'],
  ].find(([re]) => re.test(ua));
  if (browser && os) return t('core.device', { browser: browser[1], os: os[1] });
  if (browser) return browser[1];
  if (os) return os[1];
  return ua.length > 40 ? `${ua.slice(0, 40)}…` : ua;
}
