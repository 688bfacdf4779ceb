"""Russian error messages: accounts, sessions and usernames. English template -> Russian, with the same
{placeholders}."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "@{username} is reserved; choose another username": "Имя @{username} зарезервировано; выберите другое",
    "@{username} is taken; choose another username": "Имя @{username} уже занято; выберите другое",
    "a password is needed to create the account": "Чтобы создать учётную запись, нужен пароль",
    "a username has {low} to {high} characters": "Имя пользователя — от {low} до {high} символов",
    "a username may hold Latin letters, digits and underscores only": "В имени пользователя могут быть только латинские буквы, цифры и подчёркивания",
    "a username starts with a Latin letter": "Имя пользователя начинается с латинской буквы",
    "confirm your e-mail address first; we sent you a link": "Сначала подтвердите адрес электронной почты: мы отправили вам ссылку",
    "no such session": "Такого сеанса нет",
    "no such user": "Такого пользователя нет",
    "sign in first: this needs an Authorization: Bearer access token": "Сначала войдите: нужен токен доступа в заголовке Authorization: Bearer",
    "the access token has expired; refresh it": "Срок действия токена доступа истёк; обновите его",
    "the access token is not valid": "Токен доступа недействителен",
    "the e-mail address or the password is wrong": "Неверный адрес электронной почты или пароль",
    "the refresh token is not valid; sign in again": "Токен обновления недействителен; войдите снова",
    "the search text is longer than {limit} characters": "Текст поиска длиннее {limit} символов",
    "the two passwords differ": "Пароли не совпадают",
    "this account has no such session": "У этой учётной записи нет такого сеанса",
    "this account is suspended": "Эта учётная запись заблокирована",
    "this link is not valid: it was already used, has expired, or was mistyped": "Ссылка недействительна: ею уже воспользовались, срок её действия истёк или в ней опечатка",
    "this needs the admin role": "Для этого нужны права администратора",
    "this session has ended; sign in again": "Этот сеанс завершён; войдите снова",
    "too many failed sign-ins for this account; wait a little (retry after {seconds} s)": "Слишком много неудачных попыток входа в эту учётную запись; подождите немного (повторите через {seconds} с)",
    "{field} may hold digits, spaces and + - ( ) . only": "В поле «{field}» могут быть только цифры, пробелы и + - ( ) .",
}

# Field names as `{field}` shows them.
FIELDS: dict[str, str] = {
    "phone": "телефон",
    "role": "роль",
    "username": "имя пользователя",
    "device_token": "токен устройства",
    "email_discoverable": "поиск по адресу",
    "language": "язык",
}
