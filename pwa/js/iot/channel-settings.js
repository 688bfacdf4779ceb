// A channel's settings on its screen: name, description, field names and whether it is public.

import { api } from '../core/api.js';
import { card, h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { createForm, field, problems } from '../core/forms.js';
import { FIELD_NUMBERS } from './channel-fields.js';
import { channelPath } from './chart-section.js';

export function settingsSection(initial, onSaved) {
  let channel = initial;
  const { element } = card(t('iot.settings.title'));
  const name = field({ name: 'name', label: t('iot.settings.name'), required: true, maxlength: 255, value: channel.name || '', autocomplete: 'off' });
  const description = field({
    name: 'description', label: t('iot.settings.description'), maxlength: 2000, value: channel.description || '', autocomplete: 'off',
  });
  const fieldInputs = FIELD_NUMBERS.map((n) => field({
    name: `field${n}`, label: t('iot.settings.field_n', { n }), maxlength: 255, value: channel[`field${n}`] || '', autocomplete: 'off',
  }));
  const publicId = uid('public');
  const publicBox = h('input', { id: publicId, type: 'checkbox', name: 'public_flag', 'aria-describedby': `${publicId}-hint` });
  publicBox.checked = Boolean(channel.public_flag);
  const publicField = h('div', { class: 'field checkbox-field' },
    h('div', { class: 'checkbox-row' }, publicBox, h('label', { for: publicId }, t('iot.settings.public'))),
    h('p', { id: `${publicId}-hint`, class: 'field-hint' }, t('iot.settings.public_hint')));
  const status = h('p', { class: 'status', role: 'status' });
  const fieldGrid = h('div', { class: 'field-grid' });
  const fieldGroup = h('fieldset', { class: 'field-names' },
    h('legend', null, t('iot.settings.field_names')),
    h('p', { class: 'field-hint' }, t('iot.settings.field_names_hint')),
    fieldGrid);

  const form = createForm({
    fields: [name, description, ...fieldInputs],
    submitLabel: t('iot.settings.save'),
    busyLabel: t('iot.settings.saving'),
    after: [status],
    validate: (v) => problems({ name: v.name ? null : t('iot.settings.name_required') }),
    onSubmit: async (v) => {
      status.textContent = '';
      const body = { name: v.name, description: v.description, public_flag: publicBox.checked };
      for (const n of FIELD_NUMBERS) body[`field${n}`] = v[`field${n}`];
      channel = await api.put(`${channelPath(channel.id)}.json`, body);
      status.textContent = t('iot.settings.saved');
      onSaved(channel);
    },
  });
  // Field names sit in their own fieldset, the public flag after them, all before the submit button.
  const actions = form.button.parentElement;
  fieldGrid.append(...fieldInputs.map((f) => f.wrap));
  form.form.insertBefore(fieldGroup, actions);
  form.form.insertBefore(publicField, actions);
  form.form.addEventListener('input', () => { status.textContent = ''; });
  element.append(form.form);
  return element;
}
