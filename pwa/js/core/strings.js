// The app shell's strings (navigation, banners, sign-out notices). See core/i18n.js.

export const strings = {
  en: {
    'shell.screen_failed': 'This screen could not be shown. Please reload the page.',
    'shell.nav_admin': 'Admin',
    'shell.signed_out': 'You have signed out.',
    'shell.expired': 'Your session has ended. Please sign in again.',
    'shell.signed_out_elsewhere': 'You signed out in another window.',
    'shell.offline': 'You are offline: showing what this device saved. Messages you write are sent when the connection is back.',
  },
  ru: {
    'shell.screen_failed': 'Не удалось показать этот экран. Перезагрузите страницу.',
    'shell.nav_admin': 'Админка',
    'shell.signed_out': 'Вы вышли из аккаунта.',
    'shell.expired': 'Сеанс закончился. Войдите снова.',
    'shell.signed_out_elsewhere': 'Вы вышли из аккаунта в другом окне.',
    'shell.offline': 'Нет связи: показано то, что сохранено на устройстве. Написанные сообщения уйдут, когда связь вернётся.',
  },
};
