// What the end-to-end chat screens show of trust: a "Verified" badge in the header when every other member is
// verified, a line "X's security key changed — verify again" for each member whose devices changed (kept on this
// device, trust.js), a Security button with the chat's members and what a new device cannot read, and the person
// dialog's part (the badge and "Verify security keys"). Loaded by chat/trust-part.js and chat/person.js when an
// end-to-end chat needs it, with the crypto library.

import { ApiError, getUser } from '../core/api.js';
import { describeError, h } from '../core/dom.js';
import { addStrings, t } from '../core/i18n.js';
import { openDialog } from '../chat/dialog.js';
import { membersOf, nameOf, subscribe } from '../chat/store.js';
import { openDevice } from './device.js';
import { strings as emojiNames } from './strings-emoji.js';
import { strings } from './strings-trust.js';
import { trustOf } from './trust.js';
import { verifyPerson, watchIncoming } from './verify.js';

addStrings(strings);
addStrings(emojiNames);

/** This page's trust, its device opened (and incoming verification requests watched). */
export async function openTrust() {
  const trust = trustOf(await openDevice());
  watchIncoming(trust);
  return trust;
}

const othersIn = (chatId) => (membersOf(chatId) || []).map((m) => m.user_id).filter((id) => id !== getUser()?.id);

/** Fill a conversation's header part (`actions`, `banner`) for end-to-end chat `chatId`; stops with `signal`. */
export async function mountChatTrust({ chatId, actions, banner, signal }) {
  const security = h('button', { type: 'button', class: 'button small' },
    h('span', { 'aria-hidden': 'true' }, '🔒'), ' ', h('span', { class: 'trust-label' }, t('e2e.trust.security')));
  const badge = verifiedBadge();
  actions.replaceChildren(security);
  let trust;
  try {
    trust = await openTrust();
  } catch (err) {
    security.addEventListener('click', () => securityDialog(null, chatId));
    banner.replaceChildren(h('p', { class: 'notice warning' }, trustError(err)));
    return;
  }
  security.addEventListener('click', () => securityDialog(trust, chatId));
  let followed = '';
  const render = async () => {
    const others = othersIn(chatId);
    const key = others.join(' ');
    if (key !== followed) {
      followed = key;
      await trust.follow(others);
    }
    const states = await Promise.all(others.map((id) => trust.stateOf(id)));
    const verified = others.length > 0 && states.every((s) => s.verified);
    if (verified) actions.prepend(badge);
    else badge.remove();
    const lines = [];
    for (const userId of others) {
      const notices = await trust.noticesOf(userId);
      if (!notices.length) continue;
      const again = h('button', { type: 'button', class: 'button small' }, t('e2e.trust.verify_again'));
      again.addEventListener('click', () => verifyPerson(trust, userId).catch((err) => say(err)));
      const away = h('button', { type: 'button', class: 'button small' }, t('e2e.trust.dismiss'));
      away.addEventListener('click', () => trust.dismiss(userId).catch(report));
      lines.push(h('p', { class: 'notice warning key-change', role: 'status' },
        h('span', null, t('e2e.trust.key_changed', { name: nameOf(userId) })), ' ', again, ' ', away));
    }
    banner.replaceChildren(...lines);
  };
  const say = (err) => banner.prepend(h('p', { class: 'notice error' }, trustError(err)));
  let rendering = Promise.resolve();
  const rerender = () => {
    rendering = rendering.then(render).catch(report);
  };
  const stops = [trust.onChange(rerender), subscribe((change) => {
    const quiet = change.kind === 'messages' || change.kind === 'presence'; // the members are what matter here
    if (!quiet && (!change.chatId || change.chatId === chatId)) rerender();
  })];
  signal?.addEventListener('abort', () => stops.forEach((stop) => stop()));
  rerender();
}

/** The person dialog's part for `userId`: whether they are verified, "Verify security keys", what a new device
 * cannot read. */
export async function mountPersonTrust(section, userId) {
  const state = h('p', { class: 'trust-state' }, t('e2e.trust.checking'));
  const verify = h('button', { type: 'button', class: 'button', disabled: true }, t('e2e.trust.verify'));
  const history = h('button', { type: 'button', class: 'button' }, t('e2e.history.open'));
  history.addEventListener('click', () => historyDialog());
  section.replaceChildren(h('h3', null, t('e2e.trust.heading')), state, h('p', { class: 'actions' }, verify, history));
  let trust;
  try {
    trust = await openTrust();
  } catch (err) {
    state.textContent = trustError(err);
    return;
  }
  const render = async () => {
    const now = await trust.stateOf(userId);
    state.replaceChildren(now.verified
      ? verifiedBadge()
      : h('span', null, now.devices ? t('e2e.trust.not_verified', { name: nameOf(userId) }) : t('e2e.trust.no_devices')));
    verify.disabled = !now.unverified.length;
  };
  verify.addEventListener('click', async () => {
    verify.disabled = true;
    try {
      await verifyPerson(trust, userId);
    } catch (err) {
      state.textContent = trustError(err);
    }
  });
  const stop = trust.onChange(() => render().catch(report));
  new MutationObserver((_, observer) => {
    if (!section.isConnected) {
      stop();
      observer.disconnect();
    }
  }).observe(document.body, { childList: true });
  await trust.follow([userId]);
  await render();
}

/** The chat's members and whether each is verified, and what a new device cannot read. */
function securityDialog(trust, chatId) {
  const list = h('ul', { class: 'trust-members' });
  const history = h('button', { type: 'button', class: 'button' }, t('e2e.history.open'));
  history.addEventListener('click', () => historyDialog());
  openDialog(t('e2e.trust.security_title'), h('p', null, t('e2e.trust.explain')), list, h('p', { class: 'actions' }, history));
  if (!trust) return;
  (async () => {
    for (const userId of othersIn(chatId)) {
      const now = await trust.stateOf(userId);
      const verify = h('button', { type: 'button', class: 'button small', hidden: now.verified }, t('e2e.trust.verify'));
      verify.addEventListener('click', () => verifyPerson(trust, userId).catch(report));
      list.append(h('li', null, h('span', null, nameOf(userId)), ' ',
        now.verified ? verifiedBadge() : verify));
    }
  })().catch(report);
}

/** "✓ Verified" (on a phone's header the tick alone shows; the word is still read out). */
function verifiedBadge() {
  return h('span', { class: 'badge verified-badge' },
    h('span', { 'aria-hidden': 'true' }, '✓'), ' ', h('span', { class: 'trust-label' }, t('e2e.trust.verified')));
}

/** Why this device cannot read what was sent before it existed, and what to do. */
export function historyDialog() {
  openDialog(t('e2e.history.title'),
    h('p', null, t('e2e.history.what')), h('p', null, t('e2e.history.why')), h('p', null, t('e2e.history.todo')));
}

/** What went wrong, for people: the server's word, another tab holding the device, or that it is unavailable. */
function trustError(err) {
  if (err instanceof ApiError) return describeError(err) || t('e2e.verify.failed');
  report(err);
  if (err?.code === 'e2e_busy') return t('e2e.trust.busy');
  if (err?.code === 'e2e_nothing_to_verify') return t('e2e.trust.nothing_to_verify');
  return t('e2e.trust.unavailable');
}

function report(err) {
  console.warn('end-to-end trust:', err);
}
