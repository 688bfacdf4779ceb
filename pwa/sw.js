// Service worker: keeps the app shell available offline and stays out of the way of the API.
//
// Bump VERSION whenever a file in PRECACHE changes: the shell is served cache-first from the
// versioned cache, and a new VERSION is what makes browsers fetch and install the new files.
'use strict';

const VERSION = '30';
const CACHE_PREFIX = 'realtime-shell-';
const CACHE = `${CACHE_PREFIX}v${VERSION}`;
const SHELL_URL = '/';
importScripts('/js/strings-notify.js'); // self.NOTIFY_STRINGS: the texts below, in English and Russian

const PRECACHE = [
  SHELL_URL,
  '/app.js',
  '/js/account/auth.js',
  '/js/account/home.js',
  '/js/account/keys.js',
  '/js/account/signed-out.js',
  '/js/account/username.js',
  '/js/account/language.js',
  '/js/account/strings.js',
  '/js/admin/admin.js',
  '/js/admin/format.js',
  '/js/admin/reports.js',
  '/js/admin/sessions.js',
  '/js/admin/status.js',
  '/js/admin/strings.js',
  '/js/admin/users.js',
  '/js/calls/actions.js',
  '/js/calls/call-base.js',
  '/js/calls/controls.js',
  '/js/calls/direct.js',
  '/js/calls/group.js',
  '/js/calls/header.js',
  '/js/calls/history.js',
  '/js/calls/icons.js',
  '/js/calls/in-call.js',
  '/js/calls/incoming.js',
  '/js/calls/init.js',
  '/js/calls/media.js',
  '/js/calls/peer.js',
  '/js/calls/people.js',
  '/js/calls/strings.js',
  '/js/calls/screen.js',
  '/js/calls/store.js',
  '/js/chat/bubbles.js',
  '/js/chat/cache.js',
  '/js/chat/chat-options.js',
  '/js/chat/chats.js',
  '/js/chat/composer.js',
  '/js/chat/conversation.js',
  '/js/chat/dialog.js',
  '/js/chat/emoji.js',
  '/js/chat/extend.js',
  '/js/chat/files.js',
  '/js/chat/group-info.js',
  '/js/chat/history.js',
  '/js/chat/init.js',
  '/js/chat/layout.js',
  '/js/chat/links.js',
  '/js/chat/list.js',
  '/js/chat/log-keys.js',
  '/js/chat/message-dialogs.js',
  '/js/chat/messages.js',
  '/js/chat/outbox.js',
  '/js/chat/person.js',
  '/js/chat/presence.js',
  '/js/chat/push.js',
  '/js/chat/receipts.js',
  '/js/chat/sealed.js',
  '/js/chat/search.js',
  '/js/chat/store.js',
  '/js/chat/strings.js',
  '/js/chat/strings-screens.js',
  '/js/chat/strings-screens-en.js',
  '/js/chat/strings-screens-ru.js',
  '/js/chat/trust-part.js',
  '/js/chat/typing.js',
  '/js/core/api.js',
  '/js/core/dom.js',
  '/js/core/events.js',
  '/js/core/forms.js',
  '/js/core/i18n.js',
  '/js/core/page-text.js',
  '/js/core/idb.js',
  '/js/core/router.js',
  '/js/core/socket.js',
  '/js/core/storage.js',
  '/js/core/strings.js',
  // The end-to-end modules are small; the library they load (2 MB) is cached on first use, not here.
  '/js/e2e/chats.js',
  '/js/e2e/device.js',
  '/js/e2e/files.js',
  '/js/e2e/forward.js',
  '/js/e2e/glue.js',
  '/js/e2e/ids.js',
  '/js/e2e/library.js',
  '/js/e2e/reactions.js',
  '/js/e2e/store-key.js',
  '/js/e2e/strings-emoji.js',
  '/js/e2e/strings-trust.js',
  '/js/e2e/trust.js',
  '/js/e2e/trust-ui.js',
  '/js/e2e/verify.js',
  '/js/iot/channel-fields.js',
  '/js/iot/channel.js',
  '/js/iot/channels.js',
  '/js/iot/chart.js',
  '/js/iot/devices.js',
  '/js/iot/live.js',
  '/js/people/api.js',
  '/js/people/find.js',
  '/js/people/link.js',
  '/js/people/person.js',
  '/js/people/strings.js',
  '/js/people/username-field.js',
  '/js/iot/channel-keys.js',
  '/js/iot/channel-manage.js',
  '/js/iot/channel-settings.js',
  '/js/iot/chart-controls.js',
  '/js/iot/chart-section.js',
  '/js/iot/strings-en.js',
  '/js/iot/strings-ru.js',
  '/js/iot/strings.js',
  '/js/iot/widget-editor.js',
  '/js/iot/widget-views.js',
  '/js/iot/widgets.js',
  '/js/iot/channel-share.js',
  '/js/iot/embed.js',
  '/js/iot/public.js',
  '/js/iot/rule-form.js',
  '/js/iot/rules.js',
  '/js/iot/strings-automation-en.js',
  '/js/iot/strings-automation-ru.js',
  '/js/iot/talkback.js',
  '/js/iot/talkbacks.js',
  '/js/routes.js',
  '/js/strings.js',
  '/js/strings-notify.js',
  '/manifest.webmanifest',
  '/static/admin.css',
  '/static/app.css',
  '/static/calls.css',
  '/static/iot.css',
  '/static/chat.css',
  '/static/people.css',
  '/static/vendor/uPlot.iife.min.js',
  '/static/vendor/uPlot.min.css',
  '/static/icons/favicon.svg',
  '/static/icons/icon-192.png',
  '/static/icons/icon-512.png',
  '/static/icons/maskable-512.png',
  '/static/icons/apple-touch-icon.png',
];
const PRECACHE_PATHS = new Set(PRECACHE);

// Live data and operations endpoints: never answered from, nor written to, a cache.
const NEVER_CACHE = [/^\/api(\/|$)/, /^\/ws(\/|$)/, /^\/healthz(\/|$)/, /^\/metrics(\/|$)/];

const MATCH = { cacheName: CACHE, ignoreVary: true };

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // 'reload' skips the HTTP cache so a new version never precaches stale files.
    await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(
      names.filter((name) => name.startsWith(CACHE_PREFIX) && name !== CACHE)
        .map((name) => caches.delete(name)),
    );
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (NEVER_CACHE.some((pattern) => pattern.test(url.pathname))) return;
  if (request.headers.has('range')) return;

  if (request.mode === 'navigate') {
    event.respondWith(networkFirstNavigation(request, url));
  } else if (url.pathname.startsWith('/static/')) {
    event.respondWith(cacheFirst(request, { store: true }));
  } else if (PRECACHE_PATHS.has(url.pathname) && url.search === '') {
    event.respondWith(cacheFirst(request, { store: false }));
  }
  // Anything else goes to the network untouched.
});

async function networkFirstNavigation(request, url) {
  try {
    const response = await fetch(request);
    if (url.pathname === SHELL_URL && url.search === '' && isStorable(response)) {
      const cache = await caches.open(CACHE);
      await cache.put(SHELL_URL, response.clone());
    }
    return response;
  } catch (err) {
    const shell = await caches.match(SHELL_URL, MATCH);
    if (shell) return shell;
    return new Response(say(null, 'notify.offline'), {
      status: 503,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
    });
  }
}

async function cacheFirst(request, { store }) {
  const cached = await caches.match(request, MATCH);
  if (cached) return cached;
  const response = await fetch(request);
  if (store && isStorable(response)) {
    const cache = await caches.open(CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

function isStorable(response) {
  if (!response || response.status !== 200 || response.type !== 'basic' || response.redirected) return false;
  const cacheControl = response.headers.get('Cache-Control') || '';
  return !/no-store/i.test(cacheControl);
}

// -- Web Push: a message arrived, or a call rings, while the app was closed ----------------------------
// Messages (server/chat/notify.py): {type, chat_id, message_id, seq, preview?, chat_name?, mentioned?}; no preview
// in end-to-end chats or when the user turned previews off. Calls (docs/protocol.md, "Web Push"): {type: "call",
// call_id, chat_id, caller_id, caller_name?, media, expires_at, decline_url} and {type: "call.missed", ...}.

const ICON = '/static/icons/icon-192.png';

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  if (!data || typeof data !== 'object') data = {};
  if (data.type === 'call') event.waitUntil(showCall(data));
  else if (data.type === 'call.missed') event.waitUntil(showMissedCall(data));
  else event.waitUntil(showMessage(data));
});

function text(value, fallback) {
  return typeof value === 'string' && value ? value : fallback;
}

/** A text of js/strings-notify.js in the push's language (`data.lang`), else the browser's, else English. */
function say(data, key) {
  const texts = self.NOTIFY_STRINGS || { en: {} };
  const browser = String(self.navigator.language || '').toLowerCase().split('-')[0];
  const lang = data && data.lang in texts ? data.lang : browser in texts ? browser : 'en';
  return texts[lang][key] || texts.en[key] || key;
}

function chatHash(chatId) {
  return typeof chatId === 'string' ? `#/chat?id=${encodeURIComponent(chatId)}` : '#/chats';
}

function showMessage(data) {
  const chatId = typeof data.chat_id === 'string' ? data.chat_id : null;
  return self.registration.showNotification(text(data.chat_name, say(data, 'notify.message')), {
    body: text(data.preview, say(data, 'notify.message')),
    icon: ICON,
    badge: ICON,
    tag: chatId ? `chat-${chatId}` : 'chat',
    renotify: true,
    data: { hash: chatHash(chatId) },
  });
}

function showCall(data) {
  const callId = text(data.call_id, '');
  const video = data.media === 'video';
  const expiresAt = typeof data.expires_at === 'number' ? data.expires_at * 1000 : Date.now() + 60_000;
  if (!callId) return Promise.resolve();
  if (expiresAt < Date.now()) return showMissedCall(data); // it stopped ringing before the push came
  const decline = sameOriginUrl(data.decline_url);
  return self.registration.showNotification(text(data.caller_name, say(data, 'notify.call')), {
    body: say(data, video ? 'notify.call_video' : 'notify.call_audio'),
    icon: ICON,
    badge: ICON,
    tag: `call-${callId}`,
    renotify: true,
    requireInteraction: true,
    vibrate: [400, 200, 400, 200, 400],
    actions: [{ action: 'answer', title: say(data, 'notify.answer') }, { action: 'decline', title: say(data, 'notify.decline') }],
    data: {
      call: callId, decline, expiresAt,
      answer: `#/call?id=${encodeURIComponent(callId)}`, // signs in, gets the invite again, answers it
      hash: chatHash(data.chat_id), // a tap on the notification itself: the app, where the call rings
    },
  });
}

async function showMissedCall(data) {
  const callId = text(data.call_id, '');
  // The call rang here: the missed call takes the ringing notification's place.
  for (const ringing of await self.registration.getNotifications({ tag: `call-${callId}` })) ringing.close();
  return self.registration.showNotification(say(data, 'notify.missed'), {
    body: say(data, data.media === 'video' ? 'notify.missed_video' : 'notify.missed_audio'),
    icon: ICON,
    badge: ICON,
    tag: `call-missed-${callId}`,
    data: { hash: chatHash(data.chat_id) },
  });
}

/** `url` resolved against this origin, if it stays on it ('/\\evil.com/x' does not); null otherwise. */
function sameOriginUrl(url) {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url, self.location.origin);
    return u.origin === self.location.origin ? u.href : null;
  } catch {
    return null;
  }
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  if (event.action === 'decline') {
    // A link that works without signing in, for this call and this user only.
    if (data.decline) event.waitUntil(fetch(data.decline, { method: 'POST' }).catch(() => {}));
    return;
  }
  if (data.call && data.expiresAt && data.expiresAt < Date.now()) return; // rang out meanwhile
  const wanted = event.action === 'answer' ? data.answer : data.hash;
  const hash = typeof wanted === 'string' && wanted.startsWith('#/') ? wanted : '#/chats';
  event.waitUntil(openApp(hash));
});

async function openApp(hash) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (open) {
    await open.focus();
    open.postMessage({ type: 'open', hash }); // app.js follows it: the chat, or #/call which answers
    return;
  }
  await self.clients.openWindow(`/${hash}`);
}
