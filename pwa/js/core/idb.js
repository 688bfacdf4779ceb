// A small layer over IndexedDB for what this device keeps between visits (the chats read offline). Every
// failure — no IndexedDB, private browsing, a full quota, a blocked upgrade — becomes "nothing kept": reads
// give nothing, writes give false, and the app carries on from the network.

/**
 * Open database `name` at `version`, with one object store (out-of-line keys) per name in `stores`, made
 * when missing. Resolves to a Keeper, or null when IndexedDB cannot be used here.
 */
export function openKeeper(name, version, stores) {
  return new Promise((resolve) => {
    let request;
    try {
      request = indexedDB.open(name, version);
    } catch {
      resolve(null);
      return;
    }
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const store of stores) if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
    };
    request.onsuccess = () => {
      const db = request.result;
      // Another tab opens a newer version: step aside rather than block it.
      db.onversionchange = () => db.close();
      resolve(new Keeper(db, stores));
    };
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
  });
}

/** Delete database `name` (best effort: resolves either way). */
export function dropDatabase(name) {
  return new Promise((resolve) => {
    try {
      const request = indexedDB.deleteDatabase(name);
      request.onsuccess = () => resolve(true);
      request.onerror = () => resolve(false);
      request.onblocked = () => resolve(false);
    } catch {
      resolve(false);
    }
  });
}

export class Keeper {
  constructor(db, stores) {
    this.db = db;
    this.stores = stores;
  }

  /** The value under `key` in `store`, or undefined. */
  get(store, key) {
    return this.read(store, (s) => s.get(key)).then((value) => value ?? undefined);
  }

  /** Every [key, value] of `store`, in key order, read in one transaction ([] when it cannot be read). */
  entries(store) {
    return new Promise((resolve) => {
      try {
        const s = this.db.transaction(store, 'readonly').objectStore(store);
        const keys = s.getAllKeys();
        const values = s.getAll();
        values.onsuccess = () => resolve(keys.result.map((key, i) => [key, values.result[i]]));
        values.onerror = () => resolve([]);
        keys.onerror = () => resolve([]);
      } catch {
        resolve([]);
      }
    });
  }

  read(store, ask) {
    return new Promise((resolve) => {
      try {
        const request = ask(this.db.transaction(store, 'readonly').objectStore(store));
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => resolve(undefined);
      } catch {
        resolve(undefined);
      }
    });
  }

  /**
   * One read-write transaction over every store: `change(stores)` puts and deletes through
   * `stores[name]` (IDBObjectStore). Resolves true once committed, false if anything failed (nothing kept).
   */
  write(change) {
    return new Promise((resolve) => {
      try {
        const tx = this.db.transaction(this.stores, 'readwrite');
        tx.oncomplete = () => resolve(true);
        tx.onerror = () => resolve(false);
        tx.onabort = () => resolve(false);
        change(Object.fromEntries(this.stores.map((name) => [name, tx.objectStore(name)])));
      } catch {
        resolve(false);
      }
    });
  }

  /** Empty every store. */
  clear() {
    return this.write((stores) => {
      for (const store of Object.values(stores)) store.clear();
    });
  }

  close() {
    try {
      this.db.close();
    } catch {
      // already closed
    }
  }
}
