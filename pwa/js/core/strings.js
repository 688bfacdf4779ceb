// The app shell's strings (navigation, banners, sign-out notices). See core/i18n.js.

export const strings = {
  en: {
    'shell.signed_out': 'You have signed out.',
    'shell.expired': 'Your session has ended. Please sign in again.',
    'shell.signed_out_elsewhere': 'You signed out in another window.',
    'shell.offline': 'You are offline. You are reading what this device saved; messages you write are sent when the connection is back. Other changes need the connection.',
  },
  ru: {
    'shell.signed_out': 'Вы вышли из аккаунта.',
    'shell.expired': 'Сеанс закончился. Войдите снова.',
    'shell.signed_out_elsewhere': 'Вы вышли из аккаунта в другом окне.',
    'shell.offline': 'Нет подключения к сети. Показано то, что сохранено на этом устройстве; написанные сообщения уйдут, когда связь вернётся. Для остального нужна связь.',
  },
};
