// The route table: every screen of the app, its title (a catalogue key: core/strings.js), and who may see it
// (core/router.js).

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
  '/': { view: homeView, title: 'route.account', access: 'private' },
  '/channels': { view: channelsView, title: 'route.channels', access: 'private' },
  '/channel': { view: channelView, title: 'route.channel', access: 'private' },
  '/channel/rules': { view: rulesView, title: 'route.rules', access: 'private' },
  '/public/channel': { view: publicChannelView, title: 'route.public_channel', access: 'any' }, // shared: no sign-in
  '/talkbacks': { view: talkbacksView, title: 'route.talkback', access: 'private' },
  '/talkback': { view: talkbackView, title: 'route.talkback', access: 'private' },
  '/mqtt-devices': { view: devicesView, title: 'route.mqtt_devices', access: 'private' },
  '/chats': { view: chatsView, title: 'route.chats', access: 'private' },
  '/chats/new': { view: findPersonView, title: 'route.new_chat', access: 'private' },
  '/chats/new-group': { view: newChatView, title: 'route.new_group', access: 'private' },
  '/u': { view: messageMeView, title: 'route.message_me', access: 'any' },
  '/chat': { view: chatView, title: 'route.chat', access: 'private' },
  '/call': { view: callView, title: 'route.call', access: 'private' },
  '/join': { view: joinView, title: 'route.join', access: 'any' },
  '/signin': { view: signInView, title: 'route.sign_in', access: 'guest' },
  '/register': { view: registerView, title: 'route.register', access: 'guest' },
  '/check-email': { view: checkEmailView, title: 'route.check_email', access: 'guest' },
  '/forgot': { view: forgotView, title: 'route.forgot', access: 'guest' },
  '/admin': { view: adminUsersView, title: 'route.admin', access: 'private' },
  '/admin/reports': { view: adminReportsView, title: 'route.admin', access: 'private' },
  '/admin/status': { view: adminStatusView, title: 'route.admin', access: 'private' },
};
