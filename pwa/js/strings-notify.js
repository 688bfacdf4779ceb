// The service worker's texts (pwa/sw.js loads this with importScripts): its notifications and its offline answer,
// in English and Russian. A push carries its user's language (`lang`); otherwise the browser's is used.
'use strict';

self.NOTIFY_STRINGS = {
  en: {
    'notify.offline': 'You are offline and the app is not cached yet.',
    'notify.message': 'New message',
    'notify.call': 'Incoming call',
    'notify.call_audio': 'Incoming audio call',
    'notify.call_video': 'Incoming video call',
    'notify.answer': 'Answer',
    'notify.decline': 'Decline',
    'notify.missed': 'Missed call',
    'notify.missed_audio': 'Missed audio call',
    'notify.missed_video': 'Missed video call',
  },
  ru: {
    'notify.offline': 'Нет подключения к сети, а приложение ещё не сохранено на устройстве.',
    'notify.message': 'Новое сообщение',
    'notify.call': 'Входящий звонок',
    'notify.call_audio': 'Входящий аудиозвонок',
    'notify.call_video': 'Входящий видеозвонок',
    'notify.answer': 'Ответить',
    'notify.decline': 'Отклонить',
    'notify.missed': 'Пропущенный звонок',
    'notify.missed_audio': 'Пропущенный аудиозвонок',
    'notify.missed_video': 'Пропущенный видеозвонок',
  },
};
