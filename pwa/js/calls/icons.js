// The call screens' icons as inline SVG (stroke icons after Feather, MIT): emoji are not in every system font.

const SVG = 'http://www.w3.org/2000/svg';

const SHAPES = {
  phone: [['path', 'M22 16.92v3a2 2 0 0 1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.5 19.5 0 0 1-6-6 19.79 19.79 0 0 1-3.07-8.67A2 2 0 0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 .7 2.81 2 2 0 0 1-.45 2.11L8.09 9.91a16 16 0 0 0 6 6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 12.84 0 0 0 2.81.7A2 2 0 0 1 22 16.92z']],
  hangUp: [['path', 'M10.68 13.31a16 16 0 0 0 3.41 2.6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 12.84 0 0 0 2.81.7 2 2 0 0 1 1.72 2v3a2 2 0 0 1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.42 19.42 0 0 1-3.33-2.67m-2.67-3.34a19.79 19.79 0 0 1-3.07-8.63A2 2 0 0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 .7 2.81 2 2 0 0 1-.45 2.11L8.09 9.91'], ['line', 23, 1, 1, 23]],
  video: [['polygon', '23 7 16 12 23 17 23 7'], ['rect', 1, 5, 15, 14]],
  videoOff: [['path', 'M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.66 0H14a2 2 0 0 1 2 2v3.34l1 1L23 7v10'], ['line', 1, 1, 23, 23]],
  mic: [['path', 'M12 1a3 3 0 0 0-3 3v8a3 3 0 0 0 6 0V4a3 3 0 0 0-3-3z'], ['path', 'M19 10v2a7 7 0 0 1-14 0v-2'], ['line', 12, 19, 12, 23], ['line', 8, 23, 16, 23]],
  micOff: [['line', 1, 1, 23, 23], ['path', 'M9 9v3a3 3 0 0 0 5.12 2.12M15 9.34V4a3 3 0 0 0-5.94-.6'], ['path', 'M17 16.95A7 7 0 0 1 5 12v-2m14 0v2a7 7 0 0 1-.11 1.23'], ['line', 12, 19, 12, 23], ['line', 8, 23, 16, 23]],
  screen: [['rect', 2, 3, 20, 14], ['line', 8, 21, 16, 21], ['line', 12, 17, 12, 21]],
  devices: [['line', 4, 21, 4, 14], ['line', 4, 10, 4, 3], ['line', 12, 21, 12, 12], ['line', 12, 8, 12, 3], ['line', 20, 21, 20, 16], ['line', 20, 12, 20, 3], ['line', 1, 14, 7, 14], ['line', 9, 8, 15, 8], ['line', 17, 16, 23, 16]],
};

function shape([kind, ...args]) {
  const el = document.createElementNS(SVG, kind);
  const set = (name, value) => el.setAttribute(name, String(value));
  if (kind === 'path') set('d', args[0]);
  else if (kind === 'polygon') set('points', args[0]);
  else if (kind === 'line') ['x1', 'y1', 'x2', 'y2'].forEach((n, i) => set(n, args[i]));
  else if (kind === 'rect') {
    ['x', 'y', 'width', 'height'].forEach((n, i) => set(n, args[i]));
    set('rx', 2);
  }
  return el;
}

/** An <svg> icon, hidden from assistive technology (the button's label says what it does). */
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  for (const [key, value] of Object.entries({
    viewBox: '0 0 24 24', width: 24, height: 24, fill: 'none', stroke: 'currentColor', 'stroke-width': 2,
    'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', focusable: 'false', class: 'icon',
  })) svg.setAttribute(key, String(value));
  for (const part of SHAPES[name] || []) svg.append(shape(part));
  return svg;
}
