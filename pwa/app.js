// Entry point: starts the router, follows sign-in state, registers the service worker.

import { isSignedIn, onSessionChange } from './js/api.js';
import { h } from './js/dom.js';
import { createRouter } from './js/router.js';
import { routes, setFlash } from './js/views.js';

const SIGN_OUT_NOTICES = {
  signed_out: 'You have signed out.',
  expired: 'Your session has ended. Please sign in again.',
  signed_out_elsewhere: 'You signed out in another window.',
};

const outlet = document.getElementById('main');
const bannerArea = document.getElementById('banner');
const router = createRouter({ routes, outlet, isSignedIn });

onSessionChange(({ signedIn, reason }) => {
  if (!signedIn) {
    setFlash(SIGN_OUT_NOTICES[reason] || SIGN_OUT_NOTICES.signed_out, reason === 'expired' ? 'warning' : 'info');
    router.go('/signin', { replace: true });
  } else if (reason === 'signed_in_elsewhere') {
    router.refresh(); // a signed-out screen redirects itself to the home screen
  }
});

router.start();
watchConnection();
registerServiceWorker();

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
    else showBanner('offline', h('p', null, 'You are offline. Changes cannot be saved until the connection is back.'));
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
    const reload = h('button', { type: 'button', class: 'button small' }, 'Reload');
    reload.addEventListener('click', () => window.location.reload());
    showBanner('update', h('p', null, 'A new version of the app is available.'), reload);
  });
  const register = () => {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err) => {
      console.warn('Service worker registration failed:', err);
    });
  };
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}
