// How the call screens name and show people and calls: as the chat screens do (the name this user gave them,
// their display name; initials in a round avatar, a rounded square for a group).

import { h } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { initials } from '../chat/chats.js';
import { chatTitle, getChat, nameOf } from '../chat/store.js';

/** The name a call goes by: the other person in a 1:1 call, the group's name in a group call. */
export function callTitle(chatId, userId = null) {
  const chat = getChat(chatId);
  if (chat && chat.kind === 'group') return chatTitle(chat);
  if (userId) return nameOf(userId);
  return chat ? chatTitle(chat) : t('calls.view.title');
}

export function avatar(title, { group = false, size = '' } = {}) {
  const classes = ['avatar', group ? 'group' : '', size].filter(Boolean).join(' ');
  return h('span', { class: classes, 'aria-hidden': 'true' }, initials(title));
}

/** "3:07", "1:02:09": a call's length. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const secs = String(s % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`;
}

/** A video element for a stream, muted (sound goes through an <audio>), playing inline. */
export function videoElement(className) {
  const video = h('video', { class: className, autoplay: true, playsinline: true });
  video.muted = true;
  return video;
}

/** Point a media element at `stream` (only when it changed: re-setting restarts playback). */
export function show(element, stream) {
  if (element.srcObject !== stream) {
    element.srcObject = stream;
    if (stream) element.play().catch(() => {}); // autoplay may wait for a tap; the next play() after one works
  }
}
