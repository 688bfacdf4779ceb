"""Every text the server writes for people, in each language of server/texts/language.py: the pages e-mail links
open (PAGES, one table per page), the problems those pages report (PROBLEMS, by error code), the e-mails (MAILS) and
rule alert mails (ALERT). `{name}` placeholders are filled in by the code that uses them."""

from __future__ import annotations

PAGES: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "common": {
            "app": "Realtime",
            "home": "Open the app",
        },
        "incomplete": {
            "title": "This link is incomplete",
            "body": "The link has no token. Open the whole link from the e-mail.",
        },
        "verified": {
            "title": "Your e-mail address is confirmed",
            "body": "Thank you, {name}. Your account is ready.",
            "action": "Sign in",
        },
        "verify_failed": {
            "title": "This link does not work",
            "body": "{problem}",
            "hint": "Sign in to have a new link sent to you.",
            "action": "Sign in",
        },
        "reset_form": {
            "title": "Choose a new password",
            "password": "New password",
            "password_hint": "At least {min} characters.",
            "repeat": "Repeat it",
            "submit": "Change password",
            "differ": "The two passwords differ.",
        },
        "reset_failed": {
            "title": "This link does not work",
            "body": "{problem}",
            "action": "Ask for a new link",
        },
        "reset_done": {
            "title": "Your password is changed",
            "body": "Every device that was signed in has been signed out.",
            "action": "Sign in with the new password",
        },
        "too_large": {
            "title": "This form is too large",
            "body": "Go back and try again.",
        },
    },
    "ru": {
        "common": {
            "app": "Realtime",
            "home": "Открыть приложение",
        },
        "incomplete": {
            "title": "Ссылка неполная",
            "body": "В ссылке нет токена. Откройте ссылку из письма целиком.",
        },
        "verified": {
            "title": "Адрес электронной почты подтверждён",
            "body": "Спасибо, {name}. Ваш аккаунт готов.",
            "action": "Войти",
        },
        "verify_failed": {
            "title": "Ссылка не работает",
            "body": "{problem}",
            "hint": "Войдите, и мы пришлём вам новую ссылку.",
            "action": "Войти",
        },
        "reset_form": {
            "title": "Выберите новый пароль",
            "password": "Новый пароль",
            "password_hint": "Не короче {min} символов.",
            "repeat": "Повторите его",
            "submit": "Сменить пароль",
            "differ": "Пароли не совпадают.",
        },
        "reset_failed": {
            "title": "Ссылка не работает",
            "body": "{problem}",
            "action": "Запросить новую ссылку",
        },
        "reset_done": {
            "title": "Пароль изменён",
            "body": "Все устройства, где был выполнен вход, вышли из аккаунта.",
            "action": "Войти с новым паролем",
        },
        "too_large": {
            "title": "Форма слишком большая",
            "body": "Вернитесь назад и попробуйте ещё раз.",
        },
    },
}

# What a page says for an error of the service, by its code; English pages show the service's own message.
PROBLEMS: dict[str, dict[str, str]] = {
    "en": {},
    "ru": {
        "invalid_token": "Ссылка недействительна: ею уже воспользовались, её срок истёк или в ней опечатка.",
        "too_short": "Пароль должен быть не короче {min} символов.",
        "rate_limited": "Слишком много попыток. Подождите немного и попробуйте снова.",
        "other": "Не получилось. Попробуйте ещё раз.",
    },
}

MAILS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "verify": {
            "subject": "Confirm your e-mail address",
            "body": "Hello {name},\n\nconfirm your e-mail address by opening this link:\n{link}\n\n"
            "It works once and expires in {hours} hours.\nIf you did not register, ignore this message.\n",
        },
        "reset": {
            "subject": "Reset your password",
            "body": "Hello {name},\n\nto choose a new password, open this link:\n{link}\n\n"
            "It works once and expires in one hour. If you did not ask for it, ignore this message;"
            " your password stays as it is.\n",
        },
        "taken": {
            "subject": "Someone tried to register with your address",
            "body": "Someone (perhaps you) tried to create an account with this e-mail address, which already has"
            " one.\n\nIf it was you, sign in, or reset your password here:\n{link}\n\n"
            "If it was not you, you can ignore this message.\n",
        },
    },
    "ru": {
        "verify": {
            "subject": "Подтвердите адрес электронной почты",
            "body": "Здравствуйте, {name}!\n\nЧтобы подтвердить адрес электронной почты, откройте ссылку:\n{link}\n\n"
            "Она действует один раз; срок действия — {hours} ч.\n"
            "Если вы не регистрировались, просто не обращайте внимания на это письмо.\n",
        },
        "reset": {
            "subject": "Сброс пароля",
            "body": "Здравствуйте, {name}!\n\nЧтобы выбрать новый пароль, откройте ссылку:\n{link}\n\n"
            "Она действует один раз в течение часа. Если вы не просили о сбросе, не обращайте внимания на это"
            " письмо: пароль останется прежним.\n",
        },
        "taken": {
            "subject": "Кто-то пытался зарегистрироваться с вашим адресом",
            "body": "Кто-то (возможно, вы) пытался создать аккаунт с этим адресом электронной почты, но аккаунт"
            " с ним уже есть.\n\nЕсли это были вы, войдите или сбросьте пароль здесь:\n{link}\n\n"
            "Если это были не вы, просто не обращайте внимания на это письмо.\n",
        },
    },
}

# A rule's alert e-mail (server/iot/rules/actions.py): its subject and the lines under the rule's message.
ALERT: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Alert: {rule}",
        "body": "{message}\n\nRule: {rule}\nChannel: {channel}\nEvent: {event}\n",
    },
    "ru": {
        "subject": "Оповещение: {rule}",
        "body": "{message}\n\nПравило: {rule}\nКанал: {channel}\nСобытие: {event}\n",
    },
}


def mail(language: str, kind: str, **params: str | int) -> tuple[str, str]:
    """The subject and text of an e-mail of MAILS in `language` (English if it has none)."""
    texts = MAILS.get(language, MAILS["en"])[kind]
    return texts["subject"].format(**params), texts["body"].format(**params)


def alert_mail(language: str, **params: str | int) -> tuple[str, str]:
    """A rule alert's subject (at most 200 characters) and text in `language`."""
    texts = ALERT.get(language, ALERT["en"])
    return texts["subject"].format(**params)[:200], texts["body"].format(**params)
