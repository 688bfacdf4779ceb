// The admin console (#/admin): people, the report queue and the server's live figures, for server admins.
// Each section is a screen of its own under one heading and one row of section links.

import { api, getUser, isAdmin, setUser } from '../core/api.js';
import { errorNotice, h, isAbort, wideScreen } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { reportsSection } from './reports.js';
import { statusSection } from './status.js';
import { usersSection } from './users.js';

const SECTIONS = [
  { path: '/admin', key: 'admin.tab.users', build: usersSection },
  { path: '/admin/reports', key: 'admin.tab.reports', build: reportsSection },
  { path: '/admin/status', key: 'admin.tab.status', build: statusSection },
];

export function adminUsersView(context) {
  return adminScreen(SECTIONS[0], context);
}

export function adminReportsView(context) {
  return adminScreen(SECTIONS[1], context);
}

export function adminStatusView(context) {
  return adminScreen(SECTIONS[2], context);
}

/** Whether the signed-in user is a server admin (what the navigation's Admin link follows). */
function adminScreen(section, { signal }) {
  const body = h('div', { class: 'admin-body' });
  const screen = wideScreen(t('admin.title'), sectionLinks(section), body);
  screen.classList.add('admin');
  const show = () => body.replaceChildren(section.build(signal));
  if (isAdmin()) {
    show();
  } else if (getUser()) {
    body.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, t('admin.not_admin')));
  } else {
    // Just after a reload the account is not known yet: ask for it once.
    body.replaceChildren(h('p', { class: 'muted' }, t('admin.loading')));
    api.get('/api/me', { signal }).then((user) => {
      setUser(user);
      if (signal.aborted) return;
      if (isAdmin(user)) show();
      else body.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, t('admin.not_admin')));
    }, (err) => {
      if (!signal.aborted && !isAbort(err)) body.replaceChildren(errorNotice(err) || '');
    });
  }
  return screen;
}

function sectionLinks(current) {
  return h('nav', { class: 'admin-tabs', 'aria-label': t('admin.sections') },
    SECTIONS.map((section) => h('a', {
      href: `#${section.path}`,
      'aria-current': section === current ? 'page' : null,
    }, t(section.key))));
}
