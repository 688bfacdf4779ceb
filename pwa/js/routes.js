// The route table: every screen of the app, its title, and who may see it (core/router.js).

import { adminReportsView, adminStatusView, adminUsersView } from './admin/admin.js';
import { homeView } from './account/home.js';
import { checkEmailView, forgotView, registerView, signInView } from './account/signed-out.js';
import { callView } from './calls/init.js';
import { chatsView, joinView, newChatView } from './chat/chats.js';
import { chatView } from './chat/conversation.js';
import { channelView } from './iot/channel.js';
import { channelsView } from './iot/channels.js';
import { devicesView } from './iot/devices.js';
import { publicChannelView } from './iot/public.js';
import { rulesView } from './iot/rules.js';
import { talkbackView } from './iot/talkback.js';
import { talkbacksView } from './iot/talkbacks.js';
import { findPersonView } from './people/find.js';
import { messageMeView } from './people/link.js';

export const routes = {
  '/': { view: homeView, title: 'Your account', access: 'private' },
  '/channels': { view: channelsView, title: 'Channels', access: 'private' },
  '/channel': { view: channelView, title: 'Channel', access: 'private' },
  '/channel/rules': { view: rulesView, title: 'Automation rules', access: 'private' },
  '/public/channel': { view: publicChannelView, title: 'Public channel', access: 'any' }, // shared: no sign-in
  '/talkbacks': { view: talkbacksView, title: 'TalkBack', access: 'private' },
  '/talkback': { view: talkbackView, title: 'TalkBack', access: 'private' },
  '/mqtt-devices': { view: devicesView, title: 'MQTT devices', access: 'private' },
  '/chats': { view: chatsView, title: 'Chats', access: 'private' },
  '/chats/new': { view: findPersonView, title: 'New chat', access: 'private' },
  '/chats/new-group': { view: newChatView, title: 'New group', access: 'private' },
  '/u': { view: messageMeView, title: 'Message me', access: 'any' },
  '/chat': { view: chatView, title: 'Chat', access: 'private' },
  '/call': { view: callView, title: 'Call', access: 'private' },
  '/join': { view: joinView, title: 'Join a chat', access: 'any' },
  '/signin': { view: signInView, title: 'Sign in', access: 'guest' },
  '/register': { view: registerView, title: 'Create an account', access: 'guest' },
  '/check-email': { view: checkEmailView, title: 'Check your e-mail', access: 'guest' },
  '/forgot': { view: forgotView, title: 'Reset your password', access: 'guest' },
  '/admin': { view: adminUsersView, title: 'Administration', access: 'private' },
  '/admin/reports': { view: adminReportsView, title: 'Administration', access: 'private' },
  '/admin/status': { view: adminStatusView, title: 'Administration', access: 'private' },
};
