// Web Push for new messages: the permission, this device's PushSubscription (made with the server's
// VAPID key) and its registration at /api/push/subscriptions. The service worker shows the notifications.

import { t } from '../core/i18n.js';
import { api } from '../core/api.js';
import { describeError, h } from '../core/dom.js';

const READY_TIMEOUT_MS = 10_000;

export function pushSupported() {
  return typeof window !== 'undefined' && window.isSecureContext && 'serviceWorker' in navigator
    && 'PushManager' in window && 'Notification' in window;
}

async function registration() {
  const timeout = new Promise((_, reject) => {
    setTimeout(() => reject(new Error(t('chat.p.no_worker'))),
      READY_TIMEOUT_MS);
  });
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** 'unsupported' | 'denied' | 'on' | 'off' for this device. */
export async function pushState() {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  if (Notification.permission !== 'granted') return 'off';
  const reg = await registration();
  return (await reg.pushManager.getSubscription()) ? 'on' : 'off';
}

export async function enablePush() {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  const { public_key: publicKey } = await api.get('/api/push/vapid-public-key');
  const reg = await registration();
  let subscription = await reg.pushManager.getSubscription();
  if (!subscription) {
    subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
  }
  await api.post('/api/push/subscriptions', subscription.toJSON());
  return 'on';
}

/**
 * Tell the server about this browser's subscription again (after a sign-in it belongs to a new session;
 * the server keeps one per session, the newest wins). Does nothing unless notifications are on.
 */
export async function renewPushSubscription() {
  if (!pushSupported() || Notification.permission !== 'granted') return;
  const reg = await registration();
  const subscription = await reg.pushManager.getSubscription();
  if (subscription) await api.post('/api/push/subscriptions', subscription.toJSON());
}

export async function disablePush() {
  await api.delete('/api/push/subscriptions');
  const reg = await registration();
  const subscription = await reg.pushManager.getSubscription();
  if (subscription) await subscription.unsubscribe();
  return 'off';
}

const EXPLAIN = {
  unsupported: 'chat.p.unsupported',
  denied: 'chat.p.denied',
  on: 'chat.p.on',
  off: 'chat.p.off',
};

/** A switch for this device's message notifications, with a sentence on its state. */
export function notificationsControl() {
  const label = h('span', { class: 'switch-label' }, t('chat.p.label'));
  const toggle = h('button', { type: 'button', class: 'switch', role: 'switch', 'aria-checked': 'false', disabled: true },
    h('span', { class: 'switch-knob', 'aria-hidden': 'true' }));
  const id = `push-explain-${Math.random().toString(36).slice(2, 8)}`;
  const explain = h('p', { class: 'muted', id, role: 'status' }, t('chat.p.checking'));
  toggle.setAttribute('aria-describedby', id);
  const labelId = `${id}-label`;
  label.id = labelId;
  toggle.setAttribute('aria-labelledby', labelId);
  let state = 'off';
  let busy = false;

  function show(next, message = null) {
    state = next;
    toggle.setAttribute('aria-checked', String(state === 'on'));
    toggle.disabled = busy || state === 'unsupported' || state === 'denied';
    explain.textContent = message || t(EXPLAIN[state]);
  }

  toggle.addEventListener('click', async () => {
    if (busy) return;
    busy = true;
    toggle.disabled = true;
    explain.textContent = state === 'on' ? t('chat.p.turning_off') : t('chat.p.turning_on');
    try {
      show(state === 'on' ? await disablePush() : await enablePush());
    } catch (err) {
      // The browser's own refusals (no push service, blocked) carry their reason in the message.
      const message = err && err.name !== 'ApiError' && err.message
        ? t('chat.p.failed', { reason: err.message }) : describeError(err);
      busy = false;
      show(state, message || t(EXPLAIN[state]));
      return;
    }
    busy = false;
    show(state);
  });

  pushState().then((next) => show(next), () => show('unsupported'));
  return h('div', { class: 'switch-row' }, label, toggle, explain);
}
