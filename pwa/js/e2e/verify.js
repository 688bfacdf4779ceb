// Verifying a contact's security keys with the crypto library's own interactive verification (SAS, Matrix's
// `m.sas.v1`): one side asks one device of the other, the other accepts, both see the same seven emoji (and three
// numbers) worked out from a key agreement between the two devices, and each says whether they match. The messages
// travel as to-device messages through the inbox (trust.js sends the library's requests through the device's glue);
// when both confirmed, the library marks the other device verified. No hashing of our own.

import { ApiError } from '../core/api.js';
import { describeError, h } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { openDialog } from '../chat/dialog.js';
import { nameOf } from '../chat/store.js';
import { matrixUser, ourUser } from './ids.js';

const STEP_EVERY_MS = 1000; // besides the library's change callbacks: a timeout shows even when nothing arrives

/** Ask `userId`'s first unverified device to verify; opens the dialog that follows it. */
export async function verifyPerson(trust, userId) {
  const { lib, device } = trust;
  await trust.follow([userId]);
  const state = await trust.stateOf(userId);
  const target = state.unverified[0];
  if (!target) throw Object.assign(new Error('nothing to verify'), { code: 'e2e_nothing_to_verify' });
  const other = await device.machine.getDevice(new lib.UserId(matrixUser(userId)), new lib.DeviceId(target));
  const [request, outgoing] = other.requestVerification([lib.VerificationMethod.SasV1]);
  await trust.send(outgoing);
  return verificationDialog(trust, request);
}

const shown = new WeakSet(); // Trusts whose incoming requests are watched
const answered = new Set(); // flow ids already put in front of the user

/** Show a dialog for each verification request someone sends this device (while the page has the device open). */
export function watchIncoming(trust) {
  if (shown.has(trust)) return;
  shown.add(trust);
  const look = async () => {
    for (const request of await trust.incomingRequests()) {
      if (answered.has(request.flowId)) continue;
      answered.add(request.flowId);
      verificationDialog(trust, request);
    }
  };
  trust.onChange((change) => {
    if (change.kind === 'todevice') look().catch(report);
  });
  look().catch(report);
}

/** The dialog that walks through one verification, from either side; returns {close}. */
export function verificationDialog(trust, request) {
  const { lib } = trust;
  const userId = ourUser(request.otherUserId.toString());
  const name = nameOf(userId);
  const text = h('p', { class: 'verify-text', role: 'status' });
  const pictures = h('ul', { class: 'verify-emoji', hidden: true, 'aria-label': t('e2e.verify.emoji_label') });
  const numbers = h('p', { class: 'verify-numbers', hidden: true });
  const actions = h('p', { class: 'actions' });
  const opened = openDialog(t('e2e.verify.title', { name }), text, pictures, numbers, actions);
  let sas = null;
  let busy = false;
  let finished = false;

  const button = (label, work, cls = 'button') => {
    const b = h('button', { type: 'button', class: cls }, label);
    b.addEventListener('click', async () => {
      busy = true;
      for (const other of actions.querySelectorAll('button')) other.disabled = true;
      try {
        await work();
      } catch (err) {
        if (!(err instanceof ApiError)) report(err);
        text.textContent = (err instanceof ApiError && describeError(err)) || t('e2e.verify.failed');
      }
      busy = false;
      step();
    });
    return b;
  };
  const cancel = () => button(t('e2e.verify.cancel'), async () => {
    const outgoing = (sas ?? request).cancel();
    if (outgoing) await trust.send(outgoing);
  });
  const say = (message, ...buttons) => {
    if (text.textContent !== message) text.textContent = message;
    if (!busy) actions.replaceChildren(...buttons);
  };

  function step() {
    if (finished || busy) return;
    const verification = request.getVerification();
    if (!sas && verification instanceof lib.Sas) {
      sas = verification;
      sas.registerChangesCallback(later);
    }
    if (request.isCancelled() || sas?.isCancelled() || request.timedOut()) {
      finish(t('e2e.verify.cancelled'));
    } else if (request.isDone() || sas?.isDone()) {
      finish(t('e2e.verify.done', { name }));
      trust.dismiss(userId).catch(report);
      trust.emit({ kind: 'verified', userId });
    } else if (sas?.haveWeConfirmed()) {
      say(t('e2e.verify.wait_confirm', { name }), cancel());
    } else if (sas?.canBePresented()) {
      showCode();
      say(t('e2e.verify.compare', { name }),
        button(t('e2e.verify.match'), async () => {
          for (const outgoing of await sas.confirm()) await trust.send(outgoing);
          await trust.send(null);
        }, 'button primary'),
        button(t('e2e.verify.no_match'), async () => {
          const outgoing = sas.cancelWithCode('m.mismatched_sas');
          if (outgoing) await trust.send(outgoing);
        }, 'button danger'));
    } else if (sas && !sas.weStarted() && !sas.hasBeenAccepted()) {
      say(t('e2e.verify.wait_code'));
      busy = true; // they started the comparison: accept it (they asked, or we accepted their request)
      const outgoing = sas.accept();
      trust.send(outgoing ?? null).catch(report).finally(() => { busy = false; later(); });
    } else if (request.phase() === lib.VerificationRequestPhase.Requested && !request.weStarted()) {
      say(t('e2e.verify.incoming', { name }),
        button(t('e2e.verify.accept'), async () => {
          const outgoing = request.acceptWithMethods([lib.VerificationMethod.SasV1]);
          if (outgoing) await trust.send(outgoing);
        }, 'button primary'),
        cancel());
    } else if (request.isReady() && request.weStarted() && !sas) {
      say(t('e2e.verify.wait_code'));
      busy = true; // they accepted: start the comparison
      request.startSas().then(async (started) => {
        if (!started) return;
        const [made, outgoing] = started;
        sas = made;
        sas.registerChangesCallback(later);
        await trust.send(outgoing);
      }).catch(report).finally(() => { busy = false; later(); });
    } else if (request.phase() === lib.VerificationRequestPhase.Created) {
      say(t('e2e.verify.wait_accept', { name }), cancel());
    } else {
      say(t('e2e.verify.wait_code'), cancel());
    }
  }

  function showCode() {
    if (!pictures.hidden) return;
    const emoji = sas.emoji() ?? [];
    const indexes = sas.emojiIndex() ?? [];
    pictures.replaceChildren(...emoji.map((e, n) => h('li', null,
      h('span', { class: 'verify-symbol', 'aria-hidden': 'true' }, e.symbol), h('span', null, t(`e2e.emoji.${indexes[n]}`)))));
    pictures.hidden = !emoji.length;
    const decimals = sas.decimals();
    if (decimals) {
      numbers.textContent = t('e2e.verify.numbers', { numbers: [...decimals].join(' ') });
      numbers.hidden = false;
    }
  }

  function finish(message) {
    finished = true;
    clearInterval(timer);
    text.textContent = message;
    actions.replaceChildren(button(t('e2e.verify.close'), async () => opened.close(), 'button primary'));
  }

  // The library calls back from inside its processing: step afterwards, never within it.
  function later() {
    setTimeout(step, 0);
    return Promise.resolve();
  }
  request.registerChangesCallback(later);
  const timer = setInterval(step, STEP_EVERY_MS);
  opened.dialog.addEventListener('close', () => {
    clearInterval(timer);
    if (!finished) {
      const outgoing = (sas ?? request).cancel();
      if (outgoing) trust.send(outgoing).catch(report);
    }
  });
  step();
  return opened;
}

function report(err) {
  console.warn('end-to-end verification:', err);
}
