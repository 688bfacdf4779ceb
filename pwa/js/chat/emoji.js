// A compact emoji picker built into the app (no external service): a few categories as tabs, each a grid of
// emoji. Keyboard: arrow keys move in the grid (and between tabs), Home/End, Enter picks, Escape closes.

import { h, uid } from '../core/dom.js';
import { t } from '../core/i18n.js';

const SETS = {
  smileys: '😀 😃 😄 😁 😆 😅 🤣 😂 🙂 😉 😊 😇 🥰 😍 🤩 😘 😋 😛 😜 🤪 🤔 🤨 😐 😑 😶 🙄 😏 😴 😌 🤤 😷 🤒 🤕 🥳 😎 🤓 😕 😟 🙁 😮 😲 😳 🥺 😦 😢 😭 😱 😖 😣 😞 😓 😩 😫 😤 😡 🤯 🤗 🤭 🤫',
  people: '👍 👎 👌 ✌️ 🤞 🤟 🤘 🤙 👈 👉 👆 👇 ☝️ ✋ 🤚 🖐️ 🖖 👋 👏 🙌 👐 🤲 🤝 🙏 💪 🫶 👀 🧠 🙋 🙇 🤷 🤦 💃 🕺 👶 🧒 👦 👧 🧑 👨 👩 🧓',
  nature: '🐶 🐱 🐭 🐹 🐰 🦊 🐻 🐼 🐨 🐯 🦁 🐮 🐷 🐸 🐵 🐔 🐧 🐦 🦆 🦉 🐝 🦋 🐢 🐍 🐙 🐬 🐳 🌵 🌲 🌳 🌴 🌱 🌿 🍀 🍁 🌸 🌹 🌻 🌼 🌞 🌙 ⭐ 🌈 ☀️ ⛅ 🌧️ ❄️ 🔥 💧 🌊',
  food: '🍏 🍎 🍐 🍊 🍋 🍌 🍉 🍇 🍓 🍒 🍑 🥭 🍍 🥥 🥝 🍅 🥑 🥦 🥕 🌽 🥔 🥐 🍞 🧀 🥚 🥓 🍗 🍔 🍟 🍕 🌭 🌮 🍣 🍜 🍰 🎂 🍩 🍪 🍫 🍬 ☕ 🍵 🍺 🍷 🥂',
  activity: '⚽ 🏀 🏈 ⚾ 🎾 🏐 🏓 🏸 🥅 ⛳ 🎣 🎽 🎿 🏂 🏋️ 🚴 🏊 🧗 🎯 🎮 🎲 🧩 🎨 🎬 🎤 🎧 🎸 🎹 🎺 🎻 🏆 🥇 🎉 🎊 🎁 🎈',
  travel: '🚗 🚕 🚌 🚎 🏎️ 🚓 🚑 🚒 🚲 🛴 🏍️ 🚂 🚆 🚇 ✈️ 🚀 🛸 🚁 ⛵ 🚢 🏠 🏡 🏢 🏥 🏫 🏰 🗼 🗽 ⛲ 🏖️ 🏝️ 🏔️ 🗺️ 🧭 ⏰ 📅',
  objects: '💡 📱 💻 ⌨️ 🖥️ 🖨️ 📷 🎥 📺 📻 🔋 🔌 💾 📀 📎 ✂️ 📌 📍 🔒 🔑 🔨 🛠️ ⚙️ 🧲 💊 🧪 🛒 📦 ✉️ 📝 📚 💰 💳 ⌛ 🔔 🎵',
  symbols: '❤️ 🧡 💛 💚 💙 💜 🖤 🤍 💔 ❣️ 💕 💯 ✅ ❌ ❗ ❓ ⚠️ 🚫 ♻️ ✔️ ➕ ➖ ➡️ ⬅️ ⬆️ ⬇️ 🔄 🆗 🆕 🆒 🔴 🟢 🔵 ⭕ 💤 💬',
};
const ICONS = { smileys: '😀', people: '👍', nature: '🌿', food: '🍕', activity: '⚽', travel: '✈️', objects: '💡', symbols: '❤️' };
const COLUMNS = 8;

/** A smiley outline (SVG built node by node, like the composer's paperclip: nothing for the CSP to refuse). */
function smiley() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [k, v] of Object.entries({ viewBox: '0 0 24 24', width: '22', height: '22', 'aria-hidden': 'true',
    fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round' })) {
    svg.setAttribute(k, v);
  }
  for (const d of ['M12 2a10 10 0 1 0 0 20a10 10 0 1 0 0-20', 'M8 14s1.5 2 4 2 4-2 4-2', 'M9 9h.01', 'M15 9h.01']) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/**
 * The picker: a button that opens a panel; `onPick(emoji)` for each chosen one. Returns {button, panel, close}.
 * The panel goes where the caller puts it (above the composer).
 */
export function emojiPicker({ onPick }) {
  const panelId = uid('emoji');
  const button = h('button', {
    type: 'button', class: 'button attach emoji-toggle', 'aria-expanded': 'false', 'aria-controls': panelId,
    'aria-label': t('chat.emoji.open'),
  }, smiley());
  const tabs = h('div', { role: 'tablist', class: 'emoji-tabs', 'aria-label': t('chat.emoji.categories') });
  const grid = h('div', { role: 'tabpanel', class: 'emoji-grid', id: uid('emoji-grid') });
  const panel = h('div', { id: panelId, class: 'emoji-panel', role: 'group', 'aria-label': t('chat.emoji.title'), hidden: true },
    tabs, grid);
  const names = Object.keys(SETS);
  let category = names[0];
  const tabButtons = names.map((name) => {
    const id = uid('emoji-tab');
    const tab = h('button', {
      type: 'button', role: 'tab', id, class: 'emoji-tab', title: t(`chat.emoji.${name}`),
      'aria-label': t(`chat.emoji.${name}`), 'aria-controls': grid.id,
    }, h('span', { 'aria-hidden': 'true' }, ICONS[name]));
    tab.addEventListener('click', () => select(name, false));
    return tab;
  });
  tabs.append(...tabButtons);

  function select(name, focusTab = true) {
    category = name;
    tabButtons.forEach((tab, i) => {
      const on = names[i] === name;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on && focusTab) tab.focus();
    });
    grid.setAttribute('aria-labelledby', tabButtons[names.indexOf(name)].id);
    grid.replaceChildren(...SETS[name].split(' ').map((emoji, i) => {
      const cell = h('button', { type: 'button', class: 'emoji-cell', tabindex: i === 0 ? '0' : '-1' }, emoji);
      cell.addEventListener('click', () => onPick(emoji));
      return cell;
    }));
  }

  tabs.addEventListener('keydown', (event) => {
    const at = names.indexOf(category);
    let next = null;
    if (event.key === 'ArrowRight') next = names[(at + 1) % names.length];
    else if (event.key === 'ArrowLeft') next = names[(at - 1 + names.length) % names.length];
    else if (event.key === 'Home') next = names[0];
    else if (event.key === 'End') next = names[names.length - 1];
    else if (event.key === 'ArrowDown') {
      event.preventDefault();
      grid.querySelector('[tabindex="0"]')?.focus();
      return;
    }
    if (!next) return;
    event.preventDefault();
    select(next);
  });

  grid.addEventListener('keydown', (event) => {
    const cells = [...grid.querySelectorAll('.emoji-cell')];
    const at = cells.indexOf(document.activeElement);
    if (at < 0) return;
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    let to = null;
    if (event.key in moves) to = at + moves[event.key];
    else if (event.key === 'Home') to = 0;
    else if (event.key === 'End') to = cells.length - 1;
    if (to === null) return;
    event.preventDefault();
    if (to < 0 && event.key === 'ArrowUp') {
      tabButtons[names.indexOf(category)].focus();
      return;
    }
    to = Math.max(0, Math.min(cells.length - 1, to));
    cells[at].tabIndex = -1;
    cells[to].tabIndex = 0;
    cells[to].focus();
  });

  function setOpen(open) {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) {
      select(category, false);
      grid.querySelector('[tabindex="0"]')?.focus();
    }
  }
  button.addEventListener('click', () => setOpen(panel.hidden));
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      setOpen(false);
      button.focus();
    }
  });
  return { button, panel, close: () => setOpen(false) };
}
