// The end-to-end chats' part of a conversation's header (chat/extend.js): the "Verified" badge and Security
// button beside the title, the "security key changed" lines under it. This file only reserves their places; the
// work (and the crypto library) loads with e2e/trust-ui.js the first time an end-to-end chat is shown.

import { addHeaderPart } from './extend.js';

export function addTrustPart() {
  addHeaderPart(({ chatId, signal }) => {
    const actions = document.createElement('span');
    actions.className = 'chat-trust';
    const banner = document.createElement('div');
    banner.className = 'key-notices';
    let mounted = false;
    return {
      actions,
      banner,
      update(chat) {
        if (mounted || !chat?.e2e) return;
        mounted = true;
        import('../e2e/trust-ui.js')
          .then((ui) => ui.mountChatTrust({ chatId, actions, banner, signal }))
          .catch((err) => console.warn('end-to-end trust:', err));
      },
    };
  });
}
