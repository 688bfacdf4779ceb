// The end-to-end crypto library (docs/e2e.md: @matrix-org/matrix-sdk-crypto-wasm, served from node_modules at
// /static/vendor/), imported the first time an end-to-end chat needs it: 2 MB of WebAssembly that people who
// never open one never fetch. Not imported by the shell; the service worker caches it on first use.

const MODULE_URL = '/static/vendor/matrix-sdk-crypto-wasm/index.mjs';

let loading = null;

/** The library's module, its WebAssembly started (once per page). */
export function loadCrypto() {
  if (!loading) {
    loading = import(MODULE_URL).then(async (lib) => {
      await lib.initAsync();
      return lib;
    });
    loading.catch(() => {
      loading = null; // offline, say: the next call tries again
    });
  }
  return loading;
}
