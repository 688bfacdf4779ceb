// Admin console: times, durations and sizes in the chosen language (Intl through core/i18n.js).

import { formatNumber, formatRelative } from '../core/i18n.js';

const UNITS = [
  ['year', 365 * 86400], ['month', 30 * 86400], ['week', 7 * 86400],
  ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1],
];

/** "5 minutes ago" for a server time (seconds since the epoch). */
export function ago(seconds) {
  const diff = seconds - Date.now() / 1000;
  const abs = Math.abs(diff);
  const [unit, size] = UNITS.find(([, s]) => abs >= s) || UNITS[UNITS.length - 1];
  return formatRelative(Math.round(diff / size), unit);
}

/** A duration as its two largest units: "3 d 4 h", "12 min 5 s". */
export function duration(seconds) {
  const parts = [];
  let rest = Math.max(0, Math.floor(seconds));
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]]) {
    const amount = Math.floor(rest / size);
    rest -= amount * size;
    if (amount > 0 || (unit === 'second' && parts.length === 0)) {
      parts.push(formatNumber(amount, { style: 'unit', unit, unitDisplay: 'short' }));
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** A size in bytes with the unit that suits it: "812 kB", "1.4 GB". */
export function bytes(value) {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
  let amount = value;
  let index = 0;
  while (amount >= 1000 && index < units.length - 1) {
    amount /= 1000;
    index += 1;
  }
  return formatNumber(amount, { style: 'unit', unit: units[index], unitDisplay: 'short', maximumFractionDigits: 1 });
}
