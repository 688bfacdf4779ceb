// Links in message text, made clickable safely: only http(s) and mailto, built as DOM nodes (never parsed
// as HTML), opened in a new tab with rel="noopener noreferrer". Anything else stays plain text.

import { h } from '../core/dom.js';

// A web address (with its scheme, or starting "www."), or an e-mail address (with or without "mailto:").
const LINK = /\b(?:https?:\/\/|www\.)[^\s<>"]+|\b(?:mailto:)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b/giu;
const TRAILING = new Set([...'.,;:!?)]}\'"»']); // sentence punctuation after a link is not part of it

/** The link without the punctuation that ends the sentence; a ")" closing a "(" inside it stays. */
function trimEnd(text) {
  let out = text;
  while (out && TRAILING.has(out[out.length - 1])) {
    const opened = out.split('(').length - 1;
    if (out.endsWith(')') && opened >= out.split(')').length - 1) break;
    out = out.slice(0, -1);
  }
  return out;
}

/** The href for a piece of text that looked like a link, or null when it is not a safe one. */
export function safeHref(text) {
  let candidate = text;
  if (/^www\./i.test(candidate)) candidate = `https://${candidate}`;
  else if (!/^(https?:|mailto:)/i.test(candidate) && candidate.includes('@')) candidate = `mailto:${candidate}`;
  let url;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (!['http:', 'https:', 'mailto:'].includes(url.protocol)) return null;
  if (url.protocol !== 'mailto:' && !url.hostname) return null;
  return url.href;
}

/** `text` as a list of text nodes and <a> elements, for a message's paragraph. */
export function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    const raw = trimEnd(match[0]);
    const href = raw ? safeHref(raw) : null;
    if (!href) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    const external = !href.startsWith('mailto:');
    parts.push(h('a', {
      href, class: 'message-link', rel: 'noopener noreferrer', target: external ? '_blank' : null,
    }, raw));
    last = match.index + raw.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
