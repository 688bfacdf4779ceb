// A call in the chat's history (a message of kind `call`, docs/protocol.md "In the chat's history"): one row in
// the conversation ("Missed video call", "Declined", "Audio call · 3:12") and its line in the chat list.

import { h } from '../core/dom.js';
import { t, tn } from '../core/i18n.js';
import { shortTime } from '../chat/chats.js';
import { icon } from './icons.js';
import { duration } from './people.js';

/** The words for a call entry, as `me` (the signed-in user) sees it. */
export function describeCallEntry(message, me) {
  const call = message.call || {};
  const media = call.media === 'video' ? 'video' : 'audio';
  const mine = message.sender_id === me;
  const group = typeof call.participants === 'number';
  const length = typeof call.duration === 'number' ? ` · ${duration(call.duration)}` : '';
  if (group) {
    const who = call.participants ? ` · ${tn('calls.people', call.participants)}` : '';
    return { text: `${t(`calls.entry.group_${media}`)}${who}${length}`, tone: 'answered' };
  }
  const said = (key) => t(`calls.entry.${key}_${media}`);
  switch (call.outcome) {
    case 'answered':
      return { text: `${said('call')}${length}`, tone: 'answered' };
    case 'declined':
      return { text: said(mine ? 'declined_mine' : 'declined'), tone: 'declined' };
    case 'busy':
      return { text: said(mine ? 'busy_mine' : 'missed'), tone: 'missed' };
    default:
      return { text: said(mine ? 'unanswered_mine' : 'missed'), tone: 'missed' };
  }
}

/** The <li> of a call entry in the conversation: centred, with the call's icon, its words and time. */
export function callEntryElement(chat, message, view) {
  const { text, tone } = describeCallEntry(message, view.me);
  const outgoing = message.sender_id === view.me;
  const video = message.call?.media === 'video';
  return h('li', { class: `message call-entry ${tone}`, 'data-message-id': message.id, 'data-outcome': message.call?.outcome || '' },
    h('p', { class: 'call-entry-body' },
      h('span', { class: 'call-entry-icon' }, icon(video ? 'video' : 'phone')),
      h('span', { class: 'visually-hidden' }, chat.kind === 'group' ? '' : `${t(outgoing ? 'calls.entry.outgoing' : 'calls.entry.incoming')} `),
      h('span', { class: 'call-entry-text' }, text),
      h('span', { class: 'meta' }, ' · ', shortTime(message.created_at))));
}

export function callEntryPreview(message, me) {
  return `${message.call?.media === 'video' ? '🎥' : '📞'} ${describeCallEntry(message, me).text}`;
}
