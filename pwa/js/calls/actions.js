// What a person does with calls (start one, answer, decline, join a group's call) and what the server's call
// pushes do to this device's calls (docs/protocol.md, "Server pushes" under "Calls"). calls/init.js registers
// `CALL_HANDLERS` with the event store.

import { command } from '../core/socket.js';
import { getChat, otherMember } from '../chat/store.js';
import { DirectCall } from './direct.js';
import { GroupCall } from './group.js';
import {
  addRinging, answerOnArrival, currentCall, emit, partyId, removeRinging, ringingCall, setRoom, takeAnswerOnArrival,
} from './store.js';

const timers = new Map(); // call_id -> the timer that stops an unanswered invite ringing

function busy() {
  const call = currentCall();
  return Boolean(call && call.state !== 'ended');
}

/** Call the chat: 1:1 in a direct chat, the group's call (started or joined) in a group. */
export async function startCall(chatId, media) {
  if (busy()) return;
  const chat = getChat(chatId);
  if (chat && chat.kind === 'group') {
    await new GroupCall({ chatId, media }).join();
    return;
  }
  const call = new DirectCall({ chatId, media, outgoing: true, peerUserId: chat ? otherMember(chat) : null });
  const result = await call.start();
  if (result && result.state === 'replaced') {
    // Glare: they called us at the same moment and their call goes on. Answer it, as if we had picked up.
    call.finish('replaced');
    answerSoon(result.replaced_by, media);
  }
}

function answerSoon(callId, media) {
  if (ringingCall(callId)) answerCall(callId, media);
  else answerOnArrival(callId);
}

/** Answer a ringing call, sending `media` ('audio' | 'video'); null: as the call itself is (its invite's media). */
export function answerCall(callId, media = null) {
  const invite = ringingCall(callId);
  if (!invite || busy()) return;
  forgetInvite(callId);
  const call = new DirectCall({
    chatId: invite.chat_id, callId, media: invite.media, outgoing: false, peerUserId: invite.caller_id,
  });
  call.answer(invite, media || invite.media);
}

export function declineCall(callId) {
  if (!ringingCall(callId)) return;
  forgetInvite(callId);
  command('call.reject', { call_id: callId, party_id: partyId() }).catch(() => {});
}

function forgetInvite(callId) {
  clearTimeout(timers.get(callId));
  timers.delete(callId);
  removeRinging(callId);
}

/** Ask whether a group chat has a call on now (the banner that offers to join it). */
export async function checkRoom(chatId) {
  const result = await command('call.status', { chat_id: chatId });
  const call = result && result.call;
  setRoom(chatId, call && call.kind === 'group' ? call : null);
}

/** Sign-out: leave the call and stop ringing. */
export function hangUpEverything() {
  const call = currentCall();
  if (call) call.hangup();
  for (const callId of [...timers.keys()]) forgetInvite(callId);
}

// -- the server's pushes ------------------------------------------------------------------------------

function ours(frame) {
  const call = currentCall();
  return call && call.state !== 'ended' && call.callId === frame.call_id ? call : null;
}

function ring(frame) {
  if (ours(frame)) return;
  const invite = { ...frame, candidates: [...(frame.candidates || [])] };
  if (takeAnswerOnArrival(frame.call_id)) {
    addRinging(invite);
    answerCall(frame.call_id);
    return;
  }
  // Kept even while in a call here (the call screen shows it only once no call is on): on glare our own start()
  // is still running, and the invite result's `replaced_by` answers this invite.
  addRinging(invite);
  clearTimeout(timers.get(frame.call_id));
  const left = frame.expires_at ? frame.expires_at * 1000 - Date.now() : frame.lifetime || 60_000;
  timers.set(frame.call_id, setTimeout(() => forgetInvite(frame.call_id), Math.max(0, left)));
}

function hungUp(frame) {
  forgetInvite(frame.call_id);
  const call = ours(frame);
  if (!call) return;
  if (frame.reason === 'replaced' && frame.replaced_by) {
    call.finish('replaced');
    answerSoon(frame.replaced_by, call.media);
    return;
  }
  call.finish(frame.reason || 'user_hangup');
}

/** call.state after signing in: a call this device was in goes on (resume), or is lost to a reload. */
function callState(frame) {
  const mine = frame.caller_party_id === partyId() || frame.callee_party_id === partyId();
  if (!mine) return;
  const call = ours(frame);
  if (call) {
    call.resume();
    return;
  }
  // This page does not hold that call's connection any more (it was reloaded): end it rather than leave the other
  // side waiting for a device that cannot come back.
  command('call.hangup', { call_id: frame.call_id, party_id: partyId() }).catch(() => {});
}

function safely(work) {
  return (frame) => {
    Promise.resolve().then(() => work(frame)).catch((err) => console.warn(`${frame.type}:`, err));
  };
}

export const CALL_HANDLERS = {
  'call.invite': ring,
  'call.answer': safely((f) => ours(f)?.onAnswer(f)),
  'call.select_answer': (f) => {
    forgetInvite(f.call_id); // answered on another device: stop ringing here
    const call = ours(f);
    if (call && !call.outgoing && f.selected_party_id !== call.partyId) call.finish('answered_elsewhere');
  },
  'call.reject': (f) => ours(f)?.finish('user_declined'),
  'call.candidates': (f) => {
    const call = ours(f);
    if (call && call.kind === 'direct') call.onCandidates(f);
    else ringingCall(f.call_id)?.candidates.push(...(f.candidates || []));
  },
  'call.negotiate': safely((f) => {
    const call = currentCall();
    // The SFU may offer what we receive before call.join has answered: the group call queues it.
    const joining = call && call.kind === 'group' && !call.callId && call.state !== 'ended';
    (joining ? call : ours(f))?.onNegotiate(f);
  }),
  'call.media': (f) => {
    const call = ours(f);
    if (call && call.kind === 'direct') call.onMedia(f);
  },
  'call.hangup': hungUp,
  'call.party': (f) => {
    const call = ours(f);
    if (call && call.kind === 'direct') call.onParty(f);
  },
  'call.state': safely(callState),
  'call.room': (f) => {
    const call = currentCall();
    if (call && call.kind === 'group' && call.chatId === f.chat_id && call.state !== 'ended'
      && (!call.callId || call.callId === f.call_id)) {
      // Signed in again (the replay): the room still holds our party, so take it back with call.resume.
      const inRoom = (f.participants || []).some((p) => p.party_id === call.partyId);
      if (f.replayed && call.callId && inRoom) call.resume();
      call.applyRoom(f);
    } else setRoom(f.chat_id, f);
    emit();
  },
};
