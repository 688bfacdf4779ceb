// The incoming-call screen: who calls (as the chat shows them), audio or video, and Answer with audio, Answer with
// video, Decline. The ringtone plays while it shows (calls/screen.js).

import { t } from '../core/i18n.js';
import { h, uid } from '../core/dom.js';
import { answerCall, declineCall } from './actions.js';
import { icon } from './icons.js';
import { avatar, callTitle } from './people.js';

/** The screen for `invite` (a call.invite frame); `focusFirst` is the button to focus when it opens. */
export function incomingView(invite) {
  const titleId = uid('call-title');
  const who = callTitle(invite.chat_id, invite.caller_id);
  const video = invite.media === 'video';
  const button = (label, className, glyph, onClick) => h('button', {
    type: 'button', class: `call-button ${className}`, onclick: onClick,
  }, h('span', { class: 'call-icon' }, icon(glyph)), h('span', { class: 'call-button-label' }, label));

  const answerVideo = video
    ? button(t('calls.answer_video'), 'answer', 'video', () => answerCall(invite.call_id, 'video')) : null;
  const answerAudio = button(t(video ? 'calls.answer_audio' : 'calls.answer'), 'answer', 'phone',
    () => answerCall(invite.call_id, 'audio'));
  const decline = button(t('calls.decline'), 'hang-up', 'hangUp', () => declineCall(invite.call_id));

  const element = h('div', { class: 'call-screen incoming', 'aria-labelledby': titleId, 'data-call-id': invite.call_id },
    h('div', { class: 'call-caller' },
      avatar(who, { size: 'huge' }),
      h('h2', { id: titleId, class: 'call-name' }, who),
      h('p', { class: 'call-state', role: 'status', 'aria-live': 'polite' },
        t(video ? 'calls.incoming_video' : 'calls.incoming_audio'))),
    h('div', { class: 'call-controls incoming-controls', role: 'group', 'aria-label': t('calls.answer_or_decline') },
      decline, answerAudio, answerVideo));
  return { element, focusFirst: answerVideo || answerAudio, titleId };
}
