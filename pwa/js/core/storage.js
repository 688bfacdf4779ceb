// JSON values kept in localStorage. When storage is full or unavailable, the state lasts as long as the page.

/** The value stored under `key`, or `fallback` when there is none or it cannot be read. */
export function loadJson(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** Store `value` under `key`; null removes it. */
export function saveJson(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or unavailable: the state lasts as long as the page.
  }
}
