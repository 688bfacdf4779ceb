// Service worker: keeps the app shell available offline and stays out of the way of the API.
//
// Bump VERSION whenever a file in PRECACHE changes: the shell is served cache-first from the
// versioned cache, and a new VERSION is what makes browsers fetch and install the new files.
'use strict';

const VERSION = '6';
const CACHE_PREFIX = 'realtime-shell-';
const CACHE = `${CACHE_PREFIX}v${VERSION}`;
const SHELL_URL = '/';

const PRECACHE = [
  SHELL_URL,
  '/app.js',
  '/js/account/auth.js',
  '/js/account/home.js',
  '/js/account/signed-out.js',
  '/js/chat/bubbles.js',
  '/js/chat/chat-options.js',
  '/js/chat/chats.js',
  '/js/chat/composer.js',
  '/js/chat/conversation.js',
  '/js/chat/files.js',
  '/js/chat/init.js',
  '/js/chat/messages.js',
  '/js/chat/outbox.js',
  '/js/chat/presence.js',
  '/js/chat/push.js',
  '/js/chat/receipts.js',
  '/js/chat/store.js',
  '/js/chat/typing.js',
  '/js/core/api.js',
  '/js/core/dom.js',
  '/js/core/events.js',
  '/js/core/forms.js',
  '/js/core/router.js',
  '/js/core/socket.js',
  '/js/core/storage.js',
  '/js/iot/channel-fields.js',
  '/js/iot/channel.js',
  '/js/iot/channels.js',
  '/js/iot/chart.js',
  '/js/iot/live.js',
  '/js/routes.js',
  '/manifest.webmanifest',
  '/static/app.css',
  '/static/chat.css',
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
    return new Response('You are offline and the app is not cached yet.', {
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

// -- Web Push: a message arrived while the app was closed ------------------------------------------
// The payload (server/chat/notify.py): {type, chat_id, message_id, seq, preview?, chat_name?, mentioned?};
// no preview in end-to-end chats or when the user turned previews off.

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  if (!data || typeof data !== 'object') data = {};
  const title = typeof data.chat_name === 'string' && data.chat_name ? data.chat_name : 'New message';
  const body = typeof data.preview === 'string' && data.preview ? data.preview : 'New message';
  const chatId = typeof data.chat_id === 'string' ? data.chat_id : null;
  event.waitUntil(self.registration.showNotification(title, {
    body,
    icon: '/static/icons/icon-192.png',
    badge: '/static/icons/icon-192.png',
    tag: chatId ? `chat-${chatId}` : 'chat',
    renotify: true,
    data: { hash: chatId ? `#/chat?id=${encodeURIComponent(chatId)}` : '#/chats' },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const hash = typeof data.hash === 'string' && data.hash.startsWith('#/') ? data.hash : '#/chats';
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
    if (open) {
      await open.focus();
      open.postMessage({ type: 'open', hash }); // app.js follows it to the chat
      return;
    }
    await self.clients.openWindow(`/${hash}`);
  })());
});
