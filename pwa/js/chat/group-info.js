// A group's details: its picture, name and description (admins edit them), the members with their roles, and
// what the user's role allows: add and remove members, make or unmake admins (the owner), hand over ownership.

import { api, ApiError } from '../core/api.js';
import { describeError, h, uid } from '../core/dom.js';
import { t, tn } from '../core/i18n.js';
import { findPerson } from '../people/api.js';
import { initials } from './chats.js';
import { openDialog } from './dialog.js';
import { attachmentUrl, uploadFile } from './files.js';
import { personDialog } from './person.js';
import { chatTitle, getChat, loadChat, membersOf, myId, nameOf, subscribe } from './store.js';

const RANK = { owner: 2, admin: 1, member: 0 };
const path = (chatId, rest = '') => `/api/chats/${encodeURIComponent(chatId)}${rest}`;

/** The group's picture (its avatar upload, else its initials), `size` 'small' or 'large'. */
export function groupAvatar(chat, size = 'small') {
  const box = h('span', { class: `avatar group ${size}`, 'aria-hidden': 'true' }, initials(chatTitle(chat)));
  if (chat.avatar_id) {
    attachmentUrl(chat.avatar_id, { thumbnail: true }).then((url) => {
      box.replaceChildren(h('img', { src: url, alt: '' }));
    }, () => {});
  }
  return box;
}

/** Open the details of group `chatId`; `onStatus(text)` reports outcomes to the conversation's status line. */
export function groupInfoDialog(chatId, { onStatus, signal } = {}) {
  const status = h('p', { class: 'status', role: 'status' });
  const details = h('div', { class: 'group-details' });
  const people = h('div', { class: 'group-members' });
  const opened = openDialog(t('chat.group.title'), details, people, status);
  const say = (text) => { status.textContent = text; if (onStatus) onStatus(text); };

  async function run(work, done) {
    status.textContent = '';
    try {
      await work();
      await loadChat(chatId);
      if (done) say(done);
    } catch (err) {
      say(describeError(err) || '');
    }
  }

  function myRole() {
    return getChat(chatId)?.me?.role || 'member';
  }

  // The head shows the group as stored; the edit form is made once and stays, so a refresh (the dialog's own load,
  // any chat's news) never takes away what the user is typing: a field follows the stored value until edited.
  const head = h('div', { class: 'group-head' });
  let editor = null;

  function renderDetails() {
    const chat = getChat(chatId);
    if (!chat) return;
    head.replaceChildren(groupAvatar(chat, 'large'),
      h('div', null, h('p', { class: 'group-name' }, chatTitle(chat)),
        chat.description ? h('p', { class: 'muted' }, chat.description) : null));
    const admin = RANK[myRole()] >= RANK.admin;
    if (admin && !editor) editor = editForm();
    if (editor) {
      editor.follow(chat, !admin); // (a form hidden from a member shows the group as it is if they are made admin)
      editor.element.hidden = !admin;
    }
    if (head.parentNode !== details) details.replaceChildren(head);
    if (editor && editor.element.parentNode !== details) details.append(editor.element);
  }

  function editForm() {
    const nameId = uid('group-name');
    const descId = uid('group-desc');
    const picId = uid('group-pic');
    const name = h('input', { id: nameId, type: 'text', maxlength: 100, required: true });
    const description = h('textarea', { id: descId, rows: 2, maxlength: 1000 });
    const edited = new Set(); // the fields the user has changed since they were last saved
    for (const field of [name, description]) field.addEventListener('input', () => edited.add(field));
    const picture = h('input', { id: picId, type: 'file', accept: 'image/*' });
    const save = h('button', { type: 'submit', class: 'button small primary' }, t('chat.group.save'));
    const form = h('form', { class: 'group-form' },
      h('label', { for: nameId }, t('chat.group.name')), name,
      h('label', { for: descId }, t('chat.group.description')), description,
      h('label', { for: picId }, t('chat.group.picture')), picture,
      h('p', { class: 'actions' }, save));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!name.value.trim()) {
        say(t('chat.group.name_needed'));
        name.focus();
        return;
      }
      save.disabled = true;
      const sent = new Map([[name, name.value], [description, description.value]]);
      let saved = false;
      run(async () => {
        const chat = getChat(chatId) || {};
        const changes = {};
        if (sent.get(name).trim() !== (chat.name || '')) changes.name = sent.get(name).trim();
        const about = sent.get(description).trim();
        if (about !== (chat.description || '')) changes.description = about || null;
        if (picture.files && picture.files[0]) changes.avatar_id = (await uploadFile(chatId, picture.files[0], { signal })).id;
        if (Object.keys(changes).length) await api.patch(path(chatId), changes);
        saved = true;
        picture.value = '';
      }, t('chat.group.saved')).finally(() => {
        save.disabled = false;
        if (!saved) return;
        // Saved (and the group read again): a field follows the group once more, unless typed in meanwhile.
        for (const [field, value] of sent) if (field.value === value) edited.delete(field);
        const chat = getChat(chatId);
        if (chat) follow(chat);
      });
    });
    const follow = (chat, forget = false) => {
      if (forget) edited.clear();
      if (!edited.has(name)) name.value = chat.name || '';
      if (!edited.has(description)) description.value = chat.description || '';
    };
    return { element: form, follow };
  }

  function renderMembers() {
    const chat = getChat(chatId);
    const list = membersOf(chatId) || [];
    const mine = myRole();
    const sorted = [...list].sort((a, b) => (RANK[b.role] - RANK[a.role]) || nameOf(a.user_id).localeCompare(nameOf(b.user_id)));
    const rows = sorted.map((member) => memberRow(member, mine));
    const parts = [h('h3', null, tn('chat.group.members', list.length)), h('ul', { class: 'member-list' }, rows)];
    if (chat && RANK[mine] >= RANK.admin) parts.push(addForm());
    people.replaceChildren(...parts);
  }

  function memberRow(member, mine) {
    const me = member.user_id === myId();
    const button = (label, work, done, cls = 'button small') => {
      const b = h('button', { type: 'button', class: cls }, label);
      b.addEventListener('click', () => { b.disabled = true; run(work, done); });
      return b;
    };
    const actions = [];
    const id = encodeURIComponent(member.user_id);
    if (!me && mine === 'owner') {
      if (member.role === 'member') {
        actions.push(button(t('chat.group.make_admin'), () => api.patch(path(chatId, `/members/${id}`), { role: 'admin' }),
          t('chat.group.now_admin', { name: nameOf(member.user_id) })));
      } else if (member.role === 'admin') {
        actions.push(button(t('chat.group.unmake_admin'), () => api.patch(path(chatId, `/members/${id}`), { role: 'member' }),
          t('chat.group.no_longer_admin', { name: nameOf(member.user_id) })));
      }
      actions.push(button(t('chat.group.make_owner'), () => api.patch(path(chatId, `/members/${id}`), { role: 'owner' }),
        t('chat.group.now_owner', { name: nameOf(member.user_id) })));
    }
    if (!me && (mine === 'owner' || (mine === 'admin' && member.role === 'member'))) {
      actions.push(button(t('chat.group.remove'), () => api.delete(path(chatId, `/members/${id}`)),
        t('chat.group.removed', { name: nameOf(member.user_id) }), 'button small danger'));
    }
    const who = h('button', { type: 'button', class: 'link-button' }, nameOf(member.user_id));
    who.addEventListener('click', () => personDialog(member.user_id, chatId, { onDone: say }));
    return h('li', { class: 'member' },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(nameOf(member.user_id))),
      h('span', { class: 'member-name' }, me ? nameOf(member.user_id) : who,
        member.role === 'member' ? null : h('span', { class: 'badge' }, t(`chat.role.${member.role}`))),
      actions.length ? h('span', { class: 'member-actions' }, actions) : null);
  }

  function addForm() {
    const inputId = uid('add');
    const input = h('input', { id: inputId, type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none' });
    const add = h('button', { type: 'submit', class: 'button small' }, t('chat.group.add'));
    const form = h('form', { class: 'add-members' },
      h('label', { for: inputId }, t('chat.group.add_label')),
      h('p', { class: 'field-hint' }, t('chat.group.add_hint')), h('div', { class: 'copy-row' }, input, add));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const entries = [...new Set(input.value.split(/[\s,;]+/).filter(Boolean))];
      if (!entries.length) {
        say(t('chat.group.add_none'));
        return;
      }
      const ids = [];
      for (const entry of entries) { // @usernames are looked up one by one; anything else is a user id
        if (!entry.startsWith('@')) {
          ids.push(entry);
          continue;
        }
        try {
          ids.push((await findPerson({ username: entry.slice(1) })).id);
        } catch (err) {
          say(err instanceof ApiError && err.status === 404
            ? t('chat.group.add_unknown', { name: entry.slice(1) }) : describeError(err));
          return;
        }
      }
      run(() => api.post(path(chatId, '/members'), { user_ids: ids }), tn('chat.group.added', ids.length));
    });
    return form;
  }

  const render = () => { renderDetails(); renderMembers(); };
  const stop = subscribe((change) => {
    if (change.kind === 'chats' || (change.kind === 'removed' && change.chatId === chatId)) render();
  });
  opened.dialog.addEventListener('close', stop);
  render();
  loadChat(chatId).catch(() => {});
  return opened;
}

/** A group's subtitle: how many members, and whether it is a channel. A big group's view lists its admins only
 * (`members_complete` false), so its `member_count` says how many; otherwise the member list (kept up to date by
 * member events) does. */
export function groupSubtitle(chat, listed) {
  const count = chat.members_complete === false ? chat.member_count : listed;
  const members = count ? tn('chat.v.members', count) : '';
  if (chat.broadcast) return members ? t('chat.v.channel_members', { members }) : t('chat.v.channel');
  return members || t('chat.v.group');
}

/** A channel's member reads and reacts but does not post: no composer but a line saying who posts, and no "say
 * hello" in an empty channel. Everyone else gets the composer. */
export function fitReader(chat, composerForm, readOnlyLine, emptyLine) {
  const reads = Boolean(chat.broadcast) && !['admin', 'owner'].includes(chat.me?.role);
  composerForm.hidden = reads;
  readOnlyLine.hidden = !reads;
  emptyLine.textContent = t(reads ? 'chat.v.empty_channel' : 'chat.v.empty');
}
