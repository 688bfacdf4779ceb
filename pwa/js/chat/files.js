// Chat attachments: upload a picked file into a chat, and show files that need the bearer header
// (fetched, then handed to <img> and <a download> as blob: URLs, which the CSP allows).

import { language, t } from '../core/i18n.js';
import { ApiError, accessTokenForSocket, refresh } from '../core/api.js';

const MAX_CACHED = 300; // the oldest blob: URL is released past this
const blobUrls = new Map(); // "id" or "id/thumbnail" -> Promise<blob: URL>

async function withBearer(path, init = {}) {
  const attempt = async () => {
    const token = await accessTokenForSocket();
    const headers = { ...(init.headers || {}), Authorization: `Bearer ${token}`, 'Accept-Language': language() };
    try {
      return await fetch(path, { ...init, headers, credentials: 'same-origin', cache: 'no-store' });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network_error', t('core.error.network_error'));
    }
  };
  let response = await attempt();
  if (response.status === 401) {
    await refresh();
    response = await attempt();
  }
  if (!response.ok) {
    let error = {};
    try {
      const body = await response.json();
      if (body && typeof body.error === 'object') error = body.error;
    } catch {
      // not JSON: the status says enough
    }
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || '',
      error.field || null, null, response.headers.get('Content-Language') || 'en');
  }
  return response;
}

/** Upload `file` into a chat; resolves with the attachment's descriptor (id, kind, mime, name, …). */
export async function uploadFile(chatId, file, { signal } = {}) {
  const name = encodeURIComponent(file.name || 'file');
  const response = await withBearer(`/api/chats/${encodeURIComponent(chatId)}/attachments?name=${name}`, {
    method: 'POST',
    body: file,
    headers: { 'Content-Type': 'application/octet-stream' },
    signal,
  });
  return response.json();
}

/** Keep `make()`'s blob: URL under `key`, made once per page (the oldest released past MAX_CACHED). */
function cached(key, make) {
  if (!blobUrls.has(key)) {
    if (blobUrls.size >= MAX_CACHED) {
      const [oldest, url] = blobUrls.entries().next().value;
      blobUrls.delete(oldest);
      url.then((u) => URL.revokeObjectURL(u), () => {});
    }
    const promise = make();
    promise.catch(() => blobUrls.delete(key));
    blobUrls.set(key, promise);
  }
  return blobUrls.get(key);
}

/** A blob: URL for an attachment (or its thumbnail), fetched once per page. */
export function attachmentUrl(id, { thumbnail = false } = {}) {
  const path = `/api/attachments/${encodeURIComponent(id)}${thumbnail ? '/thumbnail' : ''}`;
  return cached(thumbnail ? `${id}/thumbnail` : id, () => withBearer(path).then((r) => r.blob()).then((blob) => URL.createObjectURL(blob)));
}

/** The stored bytes of an attachment (an end-to-end chat's: its ciphertext). */
export async function attachmentBytes(id) {
  return (await withBearer(`/api/attachments/${encodeURIComponent(id)}`)).arrayBuffer();
}

/** A blob: URL for a file of a message: an end-to-end one (`sealed`) is decrypted here, its image is its thumbnail. */
export function fileUrl(file, { thumbnail = false } = {}) {
  if (!file.sealed) return attachmentUrl(file.id, { thumbnail });
  return cached(`${file.id}/opened`, () => import('../e2e/files.js')
    .then((sealed) => sealed.openedBytes(file))
    .then((bytes) => URL.createObjectURL(new Blob([bytes], { type: file.mime || 'application/octet-stream' }))));
}

/** Release every blob: URL (sign-out). */
export function forgetFiles() {
  for (const promise of blobUrls.values()) promise.then((url) => URL.revokeObjectURL(url), () => {});
  blobUrls.clear();
}

export function describeSize(bytes) {
  if (typeof bytes !== 'number') return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
