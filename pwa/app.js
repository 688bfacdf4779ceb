// Entry point: wires the domains to the event store and the socket, starts the router, follows sign-in
// state, registers the service worker. Nothing registers itself on import: everything starts from here.

import { setFlash } from './js/account/signed-out.js';
import { initCalls, resetCalls } from './js/calls/init.js';
import { forgetFiles } from './js/chat/files.js';
import { initChat, resetChats } from './js/chat/init.js';
import { renewPushSubscription } from './js/chat/push.js';
import { subscribe as followChats, totalUnread } from './js/chat/store.js';
import { followOtherWindows, isAdmin, isSignedIn, onSessionChange } from './js/core/api.js';
import { h } from './js/core/dom.js';
import { createEvents } from './js/core/events.js';
import { addStrings, onLanguageChange, t } from './js/core/i18n.js';
import { labelPage } from './js/core/page-text.js';
import { createRouter } from './js/core/router.js';
import { command, onPush, onReady, startSocket, stopSocket } from './js/core/socket.js';
import { routes } from './js/routes.js';
import { catalogues } from './js/strings.js';

for (const strings of catalogues) addStrings(strings);
labelPage();

const SIGN_OUT_NOTICES = {
  signed_out: 'shell.signed_out',
  expired: 'shell.expired',
  signed_out_elsewhere: 'shell.signed_out_elsewhere',
};

const outlet = document.getElementById('main');
const bannerArea = document.getElementById('banner');

// The numbered events: each domain registers the types it handles, then the store syncs after every connect.
const events = createEvents({ command, onPush, onReady });
initChat(events);
initCalls(); // call pushes have no seq: they come from the socket, not the event store
events.start();

const router = createRouter({ routes, outlet, isSignedIn });

followOtherWindows();
onSessionChange(({ signedIn, reason }) => {
  updateNav();
  if (signedIn) startSocket();
  // Each sign-in (and each page load: its first token refresh) re-registers this device's push subscription.
  if (signedIn && reason === 'signed_in') renewPushSubscription().catch(() => {});
  if (!signedIn) {
    resetCalls(); // hangs up first, while the socket can still say so
    stopSocket();
    events.forget();
    resetChats();
    forgetFiles();
    setFlash(t(SIGN_OUT_NOTICES[reason] || SIGN_OUT_NOTICES.signed_out), reason === 'expired' ? 'warning' : 'info');
    router.go('/signin', { replace: true });
  } else if (reason === 'signed_in_elsewhere') {
    router.refresh(); // a signed-out screen redirects itself to the home screen
  }
});

router.start();
// A language switch relabels the page and the navigation and draws the current screen again, without a reload.
onLanguageChange(() => {
  labelPage();
  updateNav();
  router.refresh();
});
if (isSignedIn()) startSocket(); // the app's one WebSocket: chat events, presence, live channels
updateNav();
window.addEventListener('hashchange', updateNav);
followChats(() => updateUnread());
watchConnection();
registerServiceWorker();

/** The main navigation: shown while signed in, with the current section marked and the unread count. */
function updateNav() {
  const nav = document.getElementById('nav');
  if (!nav) return;
  nav.hidden = !isSignedIn();
  const admin = document.getElementById('nav-admin');
  if (admin) {
    admin.hidden = !isSignedIn() || !isAdmin(); // the server refuses others all the same
    admin.textContent = t('shell.nav_admin');
  }
  const path = (location.hash.replace(/^#/, '').split('?')[0]) || '/';
  const section = path === '/chat' || path === '/call' || path.startsWith('/chats') || path.startsWith('join') ? '/chats'
    : path.startsWith('/channel') || path.startsWith('/talkback') ? '/channels' : path.startsWith('/admin') ? '/admin' : path;
  for (const link of nav.querySelectorAll('a[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function updateUnread() {
  const badge = document.getElementById('nav-unread');
  if (!badge) return;
  const count = totalUnread();
  badge.hidden = count === 0;
  badge.textContent = count > 99 ? '99+' : String(count); // read out with the link: "Chats 3"
}

function showBanner(key, ...content) {
  hideBanner(key);
  bannerArea.append(h('div', { class: 'banner', 'data-banner': key }, ...content));
}

function hideBanner(key) {
  for (const el of bannerArea.querySelectorAll(`[data-banner="${key}"]`)) el.remove();
}

function watchConnection() {
  const update = () => {
    if (navigator.onLine) hideBanner('offline');
    else showBanner('offline', h('p', null, t('shell.offline')));
  };
  window.addEventListener('online', update);
  window.addEventListener('offline', update);
  update();
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // The first install takes control silently; later ones mean a new version of the app.
    if (!hadController) return;
    const reload = h('button', { type: 'button', class: 'button small' }, t('shell.reload'));
    reload.addEventListener('click', () => window.location.reload());
    showBanner('update', h('p', null, t('shell.update')), reload);
  });
  // A tap on a message notification: the service worker asks this window to open that chat.
  navigator.serviceWorker.addEventListener('message', (event) => {
    const hash = event.data && event.data.type === 'open' ? event.data.hash : null;
    if (typeof hash === 'string' && hash.startsWith('#/')) location.hash = hash;
  });
  const register = () => {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err) => {
      console.warn('Service worker registration failed:', err);
    });
  };
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}
