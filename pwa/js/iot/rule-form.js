// The form that creates or edits an automation rule: its name, kind and the kind's settings, its actions (alert,
// TalkBack command, write to a channel, webhook) and whether it is on. The server checks everything; its error
// names the member at fault (`config.value`, `actions[1].url`), and the message is shown next to that input.

import { ApiError } from '../core/api.js';
import { describeError, h, isAbort, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';
import { FIELD_NUMBERS } from './channel-fields.js';
import { fieldName } from './widget-views.js';

export const KINDS = ['threshold', 'no_data', 'expression', 'pid'];
const SETTINGS = {
  threshold: ['field', 'op', 'value', 'clear', 'for_seconds'],
  no_data: ['seconds'],
  expression: ['expression'],
  pid: ['field', 'setpoint', 'kp', 'ki', 'kd', 'output_min', 'output_max'],
};
const TEXT_SETTINGS = new Set(['op', 'expression']);
export const ACTION_TYPES = ['alert', 'talkback', 'write', 'webhook'];
const ACTION_USES = {
  alert: ['message', 'email'],
  talkback: ['talkback_id', 'command'],
  write: ['channel_id', 'field', 'value'],
  webhook: ['url'],
};
const MAX_ACTIONS = 5;

/** A labelled input or select with its hint and an error line; `path` is the request member it fills. */
function control(path, label, { type = 'text', value = '', options = null, hint = null, maxlength = null } = {}) {
  const id = uid('rule');
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const described = [hintId, errorId].filter(Boolean).join(' ');
  let element;
  if (options) {
    element = h('select', { id, 'aria-describedby': described }, options.map(([v, text]) => h('option', { value: v }, text)));
    element.value = String(value);
  } else if (type === 'checkbox') {
    element = h('input', { id, type, 'aria-describedby': described });
    element.checked = Boolean(value);
  } else {
    element = h('input', {
      id, type, value: value === null || value === undefined ? '' : String(value), maxlength, autocomplete: 'off',
      step: type === 'number' ? 'any' : null, inputmode: type === 'number' ? 'decimal' : null, 'aria-describedby': described,
    });
  }
  const error = h('p', { id: errorId, class: 'field-error', 'aria-live': 'polite' });
  const labelled = h('label', { for: id }, label);
  const wrap = type === 'checkbox'
    ? h('div', { class: 'field checkbox-field' }, h('div', { class: 'checkbox-row' }, element, labelled), error)
    : h('div', { class: 'field' }, labelled, hint ? h('p', { id: hintId, class: 'field-hint' }, hint) : null, element, error);
  return {
    path, element, wrap,
    setError(message) {
      error.textContent = message;
      element.setAttribute('aria-invalid', 'true');
    },
    clear() {
      error.textContent = '';
      element.removeAttribute('aria-invalid');
    },
  };
}

function numberOrText(name, raw) {
  if (TEXT_SETTINGS.has(name)) return raw;
  const value = Number(String(raw).trim().replace(',', '.'));
  return raw.trim() === '' || !Number.isFinite(value) ? raw.trim() : value;
}

/** One action's inputs; `index()` says where it is in the list now (paths follow it). */
function actionEditor(action, index, { channel, talkbacks, channels, onRemove }) {
  const fields = FIELD_NUMBERS.map((n) => [String(n), fieldName(channel, n)]);
  const type = control('type', t('iot.rules.action.type'), {
    options: ACTION_TYPES.map((a) => [a, t(`iot.rules.action.${a}`)]), value: action.type || 'alert',
  });
  const inputs = {
    message: control('message', t('iot.rules.action.message'), { value: action.message ?? '{message}', maxlength: 500, hint: t('iot.rules.action.template_hint') }),
    email: control('email', t('iot.rules.action.email'), { type: 'checkbox', value: action.email ?? true }),
    talkback_id: control('talkback_id', t('iot.rules.action.talkback_id'), {
      options: talkbacks.map((tb) => [String(tb.id), tb.name || `#${tb.id}`]), value: action.talkback_id ?? (talkbacks[0] ? talkbacks[0].id : ''),
    }),
    command: control('command', t('iot.rules.action.command'), { value: action.command ?? '{value}', maxlength: 255, hint: t('iot.rules.action.template_hint') }),
    channel_id: control('channel_id', t('iot.rules.action.channel_id'), {
      options: channels.map((c) => [String(c.id), c.name || `#${c.id}`]), value: action.channel_id ?? channel.id,
    }),
    field: control('field', t('iot.rules.action.field'), { options: fields, value: action.field ?? 1 }),
    value: control('value', t('iot.rules.action.value'), { value: action.value ?? '{value}', maxlength: 255 }),
    url: control('url', t('iot.rules.action.url'), { type: 'url', value: action.url ?? '', maxlength: 2000 }),
  };
  const remove = h('button', { type: 'button', class: 'button small danger' }, t('iot.rules.action.remove'));
  const legend = h('legend', null, t('iot.rules.action.n', { n: index + 1 }));
  const element = h('fieldset', { class: 'rule-action' }, legend,
    h('div', { class: 'field-grid' }, type.wrap, Object.values(inputs).map((c) => c.wrap)), h('div', { class: 'actions' }, remove));
  const show = () => {
    const uses = ACTION_USES[type.element.value];
    for (const [name, c] of Object.entries(inputs)) c.wrap.hidden = !uses.includes(name);
  };
  type.element.addEventListener('change', show);
  remove.addEventListener('click', onRemove);
  show();
  return {
    element,
    controls: [type, ...Object.values(inputs)],
    renumber(i) {
      legend.textContent = t('iot.rules.action.n', { n: i + 1 });
      remove.setAttribute('aria-label', `${t('iot.rules.action.remove')}: ${legend.textContent}`);
    },
    value() {
      const kind = type.element.value;
      const spec = { type: kind };
      for (const name of ACTION_USES[kind]) {
        const el = inputs[name].element;
        if (name === 'email') spec.email = el.checked;
        else if (['talkback_id', 'channel_id', 'field'].includes(name)) spec[name] = Number(el.value) || el.value;
        else spec[name] = el.value.trim();
      }
      return spec;
    },
  };
}

/**
 * The form. `rule`: the rule to edit, or null to create one; `onSave(body)` sends it (an ApiError is shown at its
 * field); `onCancel` (editing only). Returns the form element.
 */
export function ruleForm({ rule = null, channel, talkbacks, channels, onSave, onCancel = null }) {
  const config = rule ? rule.config : {};
  const fields = FIELD_NUMBERS.map((n) => [String(n), fieldName(channel, n)]);
  const name = control('name', t('iot.rules.name'), { value: rule ? rule.name : '', maxlength: 100 });
  const kind = control('kind', t('iot.rules.kind'), {
    options: KINDS.map((k) => [k, t(`iot.rules.kind.${k}`)]), value: rule ? rule.kind : 'threshold',
    hint: rule ? t('iot.rules.kind_fixed') : null,
  });
  if (rule) kind.element.disabled = true;
  const settings = {
    field: control('config.field', t('iot.rules.config.field'), { options: fields, value: config.field ?? 1 }),
    op: control('config.op', t('iot.rules.config.op'), {
      options: [['above', t('iot.rules.op.above')], ['below', t('iot.rules.op.below')]], value: config.op ?? 'above',
    }),
    expression: control('config.expression', t('iot.rules.config.expression'), {
      value: config.expression ?? '', maxlength: 500, hint: t('iot.rules.config.expression_hint'),
    }),
  };
  const numbers = ['value', 'clear', 'for_seconds', 'seconds', 'setpoint', 'kp', 'ki', 'kd', 'output_min', 'output_max'];
  for (const n of numbers) {
    settings[n] = control(`config.${n}`, t(`iot.rules.config.${n}`), {
      type: 'number', value: config[n] ?? '', hint: ['clear', 'for_seconds'].includes(n) ? t(`iot.rules.config.${n}_hint`) : null,
    });
  }
  const enabled = control('enabled', t('iot.rules.enabled'), { type: 'checkbox', value: rule ? rule.enabled : true });
  const settingsGroup = h('fieldset', { class: 'rule-settings' }, h('legend', null, t('iot.rules.settings')),
    h('div', { class: 'field-grid' }, Object.values(settings).map((c) => c.wrap)));
  const actionList = h('div', { class: 'rule-actions' });
  const addAction = h('button', { type: 'button', class: 'button small' }, t('iot.rules.action.add'));
  const formError = h('div', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'button primary' }, rule ? t('iot.rules.save') : t('iot.rules.create'));
  const cancel = onCancel ? h('button', { type: 'button', class: 'button', onclick: onCancel }, t('iot.rules.cancel')) : null;
  const form = h('form', { class: 'stack rule-form', novalidate: true }, formError, name.wrap, kind.wrap, settingsGroup,
    h('h3', null, t('iot.rules.actions')), actionList, addAction, enabled.wrap, h('div', { class: 'actions' }, submit, cancel));

  const editors = [];
  const context = { channel, talkbacks, channels };
  function renumber() {
    editors.forEach((e, i) => e.renumber(i));
    addAction.hidden = editors.length >= MAX_ACTIONS;
  }
  function add(action) {
    const editor = actionEditor(action, editors.length, {
      ...context,
      onRemove: () => {
        editors.splice(editors.indexOf(editor), 1);
        editor.element.remove();
        renumber();
        addAction.focus();
      },
    });
    editors.push(editor);
    actionList.append(editor.element);
    renumber();
    return editor;
  }
  addAction.addEventListener('click', () => add({ type: 'alert' }).controls[0].element.focus());
  const showSettings = () => {
    for (const [key, c] of Object.entries(settings)) c.wrap.hidden = !SETTINGS[kind.element.value].includes(key);
  };
  kind.element.addEventListener('change', showSettings);
  showSettings();
  for (const action of rule ? rule.actions : [{ type: 'alert' }]) add(action);

  function allControls() {
    const paths = [name, kind, enabled, ...Object.values(settings)];
    editors.forEach((e, i) => {
      for (const c of e.controls) paths.push({ ...c, path: `actions[${i}].${c.path}` });
    });
    return paths;
  }

  function showError(err) {
    const message = describeError(err);
    if (message === null) return;
    const at = err instanceof ApiError ? err.field : null;
    const controls = allControls();
    const target = at && (controls.find((c) => c.path === at) || controls.find((c) => c.path === `${at}.type`));
    if (target && !target.wrap.hidden) {
      target.setError(message);
      target.element.focus();
    } else {
      formError.replaceChildren(h('p', null, message));
      formError.focus?.();
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.replaceChildren();
    for (const c of allControls()) c.clear();
    if (!name.element.value.trim()) {
      name.setError(t('iot.rules.name_required'));
      name.element.focus();
      return;
    }
    const body = { name: name.element.value.trim(), enabled: enabled.element.checked, config: {}, actions: editors.map((e) => e.value()) };
    if (!rule) body.kind = kind.element.value;
    for (const key of SETTINGS[kind.element.value]) {
      const raw = settings[key].element.value;
      if (raw.trim() !== '') body.config[key] = numberOrText(key, raw);
    }
    submit.disabled = true;
    try {
      await onSave(body);
    } catch (err) {
      if (!isAbort(err)) showError(err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
