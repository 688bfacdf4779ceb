// The route table: every screen of the app, its title (a catalogue key: core/strings.js), and who may see it
// (core/router.js).

import { checkEmailView, forgotView, registerView, signInView } from './account/signed-out.js';
import { callView } from './calls/init.js';
import { chatsView, joinView, newChatView } from './chat/chats.js';
import { chatView } from './chat/conversation.js';
import { addStrings } from './core/i18n.js';

// The screens people land on (sign-in, chats, a conversation, a call) come with the shell; the others are loaded
// on first use, with their area's strings, so the shell a first visit downloads stays small (the service
// worker still keeps them all for offline use).
const iotStrings = () => import('./iot/strings.js');
const adminStrings = () => import('./admin/strings.js');
const homeView = lazy(() => import('./account/home.js'), 'homeView');
const channelsView = lazy(() => import('./iot/channels.js'), 'channelsView', iotStrings);
const channelView = lazy(() => import('./iot/channel.js'), 'channelView', iotStrings);
const rulesView = lazy(() => import('./iot/rules.js'), 'rulesView', iotStrings);
const publicChannelView = lazy(() => import('./iot/public.js'), 'publicChannelView', iotStrings);
const talkbacksView = lazy(() => import('./iot/talkbacks.js'), 'talkbacksView', iotStrings);
const talkbackView = lazy(() => import('./iot/talkback.js'), 'talkbackView', iotStrings);
const devicesView = lazy(() => import('./iot/devices.js'), 'devicesView', iotStrings);
const findPersonView = lazy(() => import('./people/find.js'), 'findPersonView');
const messageMeView = lazy(() => import('./people/link.js'), 'messageMeView');
const adminUsersView = lazy(() => import('./admin/admin.js'), 'adminUsersView', adminStrings);
const adminReportsView = lazy(() => import('./admin/admin.js'), 'adminReportsView', adminStrings);
const adminStatusView = lazy(() => import('./admin/admin.js'), 'adminStatusView', adminStrings);

/** A view that loads its module (and its area's strings, once) when first shown; the router awaits it. */
function lazy(load, name, strings = null) {
  return async (context) => {
    const [module, catalogue] = await Promise.all([load(), strings ? strings() : null]);
    if (catalogue) addStrings(catalogue.strings);
    return module[name](context);
  };
}

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
