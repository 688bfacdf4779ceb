// The owner's dashboard editor: the widgets in order (move up, move down, remove), a form to add one of each
// kind, and Save, which replaces the channel's widgets on the server (the server checks every spec again).

import { api } from '../core/api.js';
import { describeError, h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { FIELD_NUMBERS } from './channel-fields.js';
import { fieldName, widgetTitle } from './widget-views.js';

export const TYPES = ['number', 'gauge', 'lamp', 'status', 'location', 'switch', 'button', 'slider'];
// Which inputs of the add form each kind uses.
const USES = {
  number: ['field', 'unit'],
  gauge: ['field', 'unit', 'min', 'max'],
  lamp: ['field', 'warning', 'alert'],
  status: [],
  location: [],
  switch: ['target', 'on', 'off'],
  button: ['target', 'send'],
  slider: ['target', 'min', 'max', 'step', 'command'],
};

function input(name, label, attrs = {}) {
  const id = uid(`widget-${name}`);
  const element = attrs.options
    ? h('select', { id, name }, attrs.options.map(([v, text]) => h('option', { value: v }, text)))
    : h('input', { id, name, type: attrs.type || 'text', value: attrs.value ?? '', step: attrs.step, autocomplete: 'off', maxlength: attrs.maxlength });
  return { name, element, wrap: h('div', { class: 'field' }, h('label', { for: id }, label), element) };
}

function numberOf(text) {
  const value = Number(String(text).trim().replace(',', '.'));
  return String(text).trim() === '' || !Number.isFinite(value) ? null : value;
}

/** The spec the add form describes, or {problem} when something is missing. */
function specFrom(type, v) {
  const spec = { type };
  if (v.title) spec.title = v.title;
  if (USES[type].includes('field')) spec.field = Number(v.field);
  if (USES[type].includes('unit') && v.unit) spec.unit = v.unit;
  if (USES[type].includes('min')) {
    spec.min = numberOf(v.min);
    spec.max = numberOf(v.max);
    if (spec.min === null || spec.max === null) return { problem: t('iot.editor.error.range') };
    if (spec.min >= spec.max) return { problem: t('iot.editor.error.order') };
  }
  if (type === 'lamp') {
    const warning = numberOf(v.warning);
    const alert = numberOf(v.alert);
    if (warning === null && alert === null) return { problem: t('iot.editor.error.thresholds') };
    spec.thresholds = [];
    if (warning !== null) spec.thresholds.push({ at: warning, level: 'warning' });
    if (alert !== null) spec.thresholds.push({ at: alert, level: 'alert' });
    if (spec.thresholds.length === 2 && alert <= warning) return { problem: t('iot.editor.error.threshold_order') };
  }
  if (USES[type].includes('target')) {
    const [kind, id] = v.target.split(':');
    spec.target = kind === 'field' ? { field: Number(id) } : { talkback_id: Number(id) };
  }
  if (type === 'switch') {
    spec.on = v.on || '1';
    spec.off = v.off || '0';
  }
  if (type === 'button') {
    if (!v.send) return { problem: t('iot.editor.error.send') };
    spec.send = v.send;
  }
  if (type === 'slider') {
    const step = numberOf(v.step);
    if (step !== null) spec.step = step;
    if (v.command) {
      if (!v.command.includes('{value}')) return { problem: t('iot.editor.error.command') };
      spec.command = v.command;
    }
  }
  return { spec };
}

/** `onSave(widgets)` saves (and may throw an ApiError, shown here); `onCancel()` closes without saving. */
export function widgetEditor({ channel, widgets: initial, signal, onSave, onCancel }) {
  let widgets = initial.map((w) => ({ ...w }));
  const headingId = uid('editor');
  const list = h('ol', { class: 'editor-list' });
  const error = h('div', { role: 'alert', class: 'form-error' });
  const named = FIELD_NUMBERS.map((n) => [String(n), fieldName(channel, n)]);
  const targets = named.map(([n, name]) => [`field:${n}`, t('iot.editor.target.field', { name })]);
  const inputs = [
    input('type', t('iot.editor.type'), { options: TYPES.map((k) => [k, t(`iot.widget.type.${k}`)]) }),
    input('title', t('iot.editor.widget_title'), { maxlength: 100 }),
    input('field', t('iot.editor.field'), { options: named }),
    input('unit', t('iot.editor.unit'), { maxlength: 16 }),
    input('min', t('iot.editor.min'), { type: 'number', step: 'any', value: '0' }),
    input('max', t('iot.editor.max'), { type: 'number', step: 'any', value: '100' }),
    input('warning', t('iot.editor.warning'), { type: 'number', step: 'any' }),
    input('alert', t('iot.editor.alert'), { type: 'number', step: 'any' }),
    input('target', t('iot.editor.target'), { options: targets }),
    input('on', t('iot.editor.on'), { value: '1', maxlength: 255 }),
    input('off', t('iot.editor.off'), { value: '0', maxlength: 255 }),
    input('send', t('iot.editor.send'), { maxlength: 255 }),
    input('step', t('iot.editor.step'), { type: 'number', step: 'any', value: '1' }),
    input('command', t('iot.editor.command'), { value: '{value}', maxlength: 255 }),
  ];
  const byName = Object.fromEntries(inputs.map((i) => [i.name, i]));
  const addButton = h('button', { type: 'button', class: 'button small' }, t('iot.editor.add'));
  const addForm = h('fieldset', { class: 'editor-add' }, h('legend', null, t('iot.editor.add_title')),
    h('div', { class: 'field-grid' }, inputs.map((i) => i.wrap)), addButton);
  const save = h('button', { type: 'button', class: 'button primary' }, t('iot.editor.save'));
  const cancel = h('button', { type: 'button', class: 'button' }, t('iot.editor.cancel'));
  const element = h('section', { class: 'widget-editor', 'aria-labelledby': headingId },
    h('h3', { id: headingId, tabindex: '-1' }, t('iot.editor.title')),
    list, addForm, error, h('div', { class: 'actions' }, save, cancel));

  // TalkBacks the owner has: a control can queue commands on any of them.
  api.get('/talkbacks.json', { signal }).then((found) => {
    for (const tb of Array.isArray(found) ? found : []) {
      byName.target.element.append(h('option', { value: `talkback:${tb.id}` }, t('iot.editor.target.talkback', { name: tb.name || `#${tb.id}` })));
    }
  }, () => {});

  function showInputs() {
    const uses = USES[byName.type.element.value];
    for (const i of inputs) i.wrap.hidden = !['type', 'title', ...uses].includes(i.name);
  }

  function move(index, by) {
    const [item] = widgets.splice(index, 1);
    widgets.splice(index + by, 0, item);
    renderList();
    const buttons = list.children[index + by]?.querySelectorAll('button');
    if (buttons && buttons.length) buttons[by < 0 ? 0 : 1].focus();
  }

  function renderList() {
    if (!widgets.length) {
      list.replaceChildren(h('li', { class: 'muted' }, t('iot.editor.none')));
      return;
    }
    list.replaceChildren(...widgets.map((w, i) => {
      const name = `${widgetTitle(w, channel)} (${t(`iot.widget.type.${w.type}`)})`;
      const button = (label, text, onclick, disabled = false) => h('button', {
        type: 'button', class: 'button small', 'aria-label': `${label}: ${name}`, onclick, disabled,
      }, text);
      return h('li', { class: 'editor-item' }, h('span', null, name),
        h('span', { class: 'editor-buttons' },
          button(t('iot.editor.up'), '↑', () => move(i, -1), i === 0),
          button(t('iot.editor.down'), '↓', () => move(i, 1), i === widgets.length - 1),
          button(t('iot.editor.remove'), t('iot.editor.remove'), () => {
            widgets.splice(i, 1);
            renderList();
            addButton.focus();
          })));
    }));
  }

  byName.type.element.addEventListener('change', showInputs);
  addButton.addEventListener('click', () => {
    const values = Object.fromEntries(inputs.map((i) => [i.name, i.element.value.trim()]));
    const { spec, problem } = specFrom(values.type, values);
    error.textContent = problem || '';
    if (!spec) return;
    widgets.push(spec);
    renderList();
    byName.title.element.value = '';
    byName.unit.element.value = '';
  });
  save.addEventListener('click', async () => {
    save.disabled = true;
    error.textContent = '';
    try {
      await onSave(widgets);
    } catch (err) {
      error.textContent = describeError(err) || '';
    } finally {
      save.disabled = false;
    }
  });
  cancel.addEventListener('click', onCancel);
  showInputs();
  renderList();
  return element;
}
