// What calls add to a conversation: the audio and video call buttons beside its title, and in a group chat the
// "join the call" banner while the group has a call on (from call.room / call.status). Plugged into the chat's
// header by calls/init.js (chat/extend.js).

import { h } from '../core/dom.js';
import { t, tn } from '../core/i18n.js';
import { onReady } from '../core/socket.js';
import { nameOf } from '../chat/store.js';
import { checkRoom, startCall } from './actions.js';
import { icon } from './icons.js';
import { currentCall, roomOf, subscribe } from './store.js';

function callButton(label, glyph, onClick) {
  return h('button', { type: 'button', class: 'icon-button call-start', 'aria-label': label, title: label, onclick: onClick },
    icon(glyph));
}

/** The header part for one conversation screen: {actions, banner, update(chat)}. */
export function callHeaderPart({ chatId, signal }) {
  let chat = null;
  const start = (media) => () => {
    startCall(chatId, media).catch((err) => console.warn('The call could not start:', err));
  };
  const audio = callButton(t('calls.audio_call'), 'phone', start('audio'));
  const video = callButton(t('calls.video_call'), 'video', start('video'));
  const actions = h('div', { class: 'call-actions', hidden: true }, audio, video);

  const join = h('button', { type: 'button', class: 'button small primary', onclick: start('video') }, t('calls.join'));
  const joinAudio = h('button', { type: 'button', class: 'button small', onclick: start('audio') }, t('calls.join_audio'));
  const text = h('span', { class: 'call-banner-text' });
  const banner = h('div', { class: 'call-banner', role: 'status', hidden: true },
    h('span', { class: 'call-banner-dot', 'aria-hidden': 'true' }), text, joinAudio, join);

  function render() {
    if (!chat || chat.e2e) {
      actions.hidden = true;
      banner.hidden = true;
      return;
    }
    const call = currentCall();
    const inThisCall = Boolean(call && call.chatId === chatId && call.state !== 'ended');
    const busy = Boolean(call && call.state !== 'ended');
    actions.hidden = false;
    audio.disabled = busy;
    video.disabled = busy;
    const room = chat.kind === 'group' ? roomOf(chatId) : null;
    const people = room ? room.participants || [] : [];
    banner.hidden = !room || !people.length || inThisCall;
    if (!banner.hidden) {
      const names = people.slice(0, 3).map((p) => nameOf(p.user_id));
      const more = people.length > 3 ? tn('calls.more', people.length - 3) : '';
      text.textContent = tn('calls.banner', people.length, { names: names.join(', '), more });
      join.disabled = busy;
      joinAudio.disabled = busy;
    }
    // A group's call buttons start its call, or join the one that is on.
    const joining = chat.kind === 'group' && room && people.length;
    audio.setAttribute('aria-label', t(joining ? 'calls.join_with_audio' : 'calls.audio_call'));
    video.setAttribute('aria-label', t(joining ? 'calls.join_with_video' : 'calls.video_call'));
    audio.title = audio.getAttribute('aria-label');
    video.title = video.getAttribute('aria-label');
  }

  const ask = () => {
    if (chat && chat.kind === 'group') checkRoom(chatId).catch(() => {});
  };
  const stop = subscribe(render);
  const stopReady = onReady(ask); // and again after every reconnect: a call may have started meanwhile
  signal.addEventListener('abort', () => { stop(); stopReady(); }, { once: true });

  return {
    actions,
    banner,
    update(next) {
      const first = !chat;
      chat = next;
      if (first) ask();
      render();
    },
  };
}
