// A small router on location.hash ("#/path?query"), with signed-in and signed-out guards.

import { t } from './i18n.js';

/**
 * @param {object} options
 * @param {Record<string, {view: Function, title: string, access: 'private'|'guest'|'any'}>} options.routes
 *   `title` is a catalogue key (core/i18n.js)
 * @param {HTMLElement} options.outlet where the current screen is rendered
 * @param {() => boolean} options.isSignedIn
 */
export function createRouter({ routes, outlet, isSignedIn, appName = 'Realtime' }) {
  let controller = null;
  let rendered = false;

  function current() {
    const raw = location.hash.replace(/^#/, '') || '/';
    // Invite links the server makes are "#join/<code>": the '/join' screen with that code.
    const invite = /^\/?join\/([^/?]+)$/.exec(raw);
    if (invite) return { path: '/join', params: new URLSearchParams({ code: invite[1] }) };
    // "Message me" links are "#/u/<username>": the '/u' screen with that name.
    const person = /^\/u\/([^/?]+)$/.exec(raw);
    if (person) return { path: '/u', params: new URLSearchParams({ username: decodeURIComponent(person[1]) }) };
    const [path, query = ''] = raw.split('?', 2);
    return { path: path || '/', params: new URLSearchParams(query) };
  }

  function home() {
    return isSignedIn() ? '/chats' : '/signin'; // signed in, people land on their chats
  }

  /** Draw the current route's screen; `keepId`: on a redraw, the id of the element to give focus back to. */
  function render(keepId = null) {
    const { path, params } = current();
    const route = routes[path];
    if (!route) return go(home(), { replace: true });
    if (route.access === 'private' && !isSignedIn()) return go('/signin', { replace: true });
    if (route.access === 'guest' && isSignedIn()) return go(home(), { replace: true });

    if (controller) controller.abort();
    const mine = (controller = new AbortController());
    let screen;
    try {
      screen = route.view({ params, signal: mine.signal, navigate: go });
    } catch (err) {
      screen = failed(err);
    }
    document.title = route.title ? t('core.page_title', { title: t(route.title), app: appName }) : appName;
    if (screen instanceof Promise) {
      // A screen loaded on first use (its module and strings): shown when it arrives, if still wanted.
      const waiting = document.createElement('p');
      waiting.className = 'loading';
      waiting.setAttribute('aria-busy', 'true');
      waiting.textContent = '…';
      screen.then(
        (node) => controller === mine && show(node, keepId),
        (err) => controller === mine && show(failed(err)),
      );
      screen = waiting;
    }
    show(screen, keepId);
    return undefined;
  }

  function show(screen, keepId = null) {
    outlet.replaceChildren(screen);
    const kept = keepId ? document.getElementById(keepId) : null;
    if (kept) { // the same screen drawn again (a language switch): focus stays where it was
      kept.focus();
      rendered = true;
      return;
    }
    // Move focus to the new screen's heading so screen readers announce the change.
    const heading = outlet.querySelector('h1');
    if (rendered && heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
      window.scrollTo(0, 0);
    }
    if (heading || !screen.classList.contains('loading')) rendered = true;
  }

  function failed(err) {
    console.error(err);
    const notice = document.createElement('p');
    notice.className = 'notice error';
    notice.textContent = t('core.screen_failed');
    return notice;
  }

  /** Show `path` ("/signin", "/"); `replace` keeps the current entry out of the history. */
  function go(path, { replace = false } = {}) {
    const hash = `#${path}`;
    if (location.hash === hash || (hash === '#/' && location.hash === '')) {
      render();
    } else if (replace) {
      history.replaceState(history.state, '', hash);
      render();
    } else {
      location.hash = hash; // the hashchange listener renders
    }
  }

  /** Draw the current screen again (its data or language changed), keeping focus on the same element. */
  function refresh() {
    const active = document.activeElement;
    render(active && active !== document.body && outlet.contains(active) ? active.id || null : null);
  }

  window.addEventListener('hashchange', () => render());
  return { start: () => render(), go, refresh };
}
