"""Russian error messages: what every part shares (request bodies and parameters, the WebSocket, limits, services
that are down) and aiohttp's own answers (HTTP). English template -> Russian, with the same {placeholders}."""

from __future__ import annotations

# aiohttp's answers by status, as server/web/errors.py words them (not raised by our code, so listed apart).
HTTP: dict[str, str] = {
    "Not found": "Не найдено",
    "Method not allowed": "Этот метод здесь не принимается",
    "The request body is too large": "Тело запроса слишком велико",
    "Unsupported media type": "Этот тип содержимого не поддерживается",
    "Bad request": "Неверный запрос",
    "Forbidden": "Доступ запрещён",
    "Unauthorized": "Нужно войти",
}


MESSAGES: dict[str, str] = {
    **HTTP,
    "Something went wrong on our side": "Что-то пошло не так на нашей стороне",
    "a frame is a JSON object with a string type": "Кадр должен быть JSON-объектом со строковым полем type",
    "a frame is at most {limit} bytes": "Кадр не может быть больше {limit} байт",
    "a service this request needs (Redis) is unavailable; try again shortly": "Служба, нужная для этого запроса (Redis), сейчас недоступна; попробуйте чуть позже",
    "auth needs a string token": "Для auth нужен токен-строка",
    "id must be a string or integer of at most 64 characters": "Поле «id» должно быть строкой или целым числом не длиннее 64 символов",
    "no such file": "Такого файла нет",
    "send JSON text frames": "Отправляйте текстовые кадры с JSON",
    "send an auth frame first": "Сначала отправьте кадр auth",
    "the body is not valid JSON: {reason}": "Тело запроса — не корректный JSON: {reason}",
    "the body must be a JSON object": "Тело запроса должно быть JSON-объектом",
    "the database is unavailable just now; try again shortly": "База данных сейчас недоступна; попробуйте чуть позже",
    "the frame is not valid JSON": "Кадр — не корректный JSON",
    "the request body is larger than {limit} bytes": "Тело запроса больше {limit} байт",
    "the server is taking too many writes just now; send it again shortly": "Сервер сейчас принимает слишком много записей; отправьте ещё раз чуть позже",
    "this connection belongs to another user": "Это соединение принадлежит другому пользователю",
    "this origin may not open a WebSocket here": "С этого сайта нельзя открыть здесь WebSocket",
    "too many attempts; try again later (retry after {seconds} s)": "Слишком много попыток; попробуйте позже (через {seconds} с)",
    "unknown field {field}": "Неизвестное поле «{field}»",
    "unknown frame type {kind}": "Неизвестный тип кадра {kind}",
    "{field} is longer than {limit} characters": "Поле «{field}» длиннее {limit} символов",
    "{field} is not an e-mail address": "Поле «{field}» — не адрес электронной почты",
    "{field} is not one this server gave out": "Значение «{field}» выдано не этим сервером",
    "{field} is out of range (a 64-bit integer)": "Поле «{field}» вне допустимого диапазона (64-битное целое)",
    "{field} is required": "Заполните поле «{field}»",
    "{field} must be 0 or more": "Поле «{field}» должно быть не меньше 0",
    "{field} must be a whole number from {low} to {high}": "Поле «{field}» должно быть целым числом от {low} до {high}",
    "{field} must be a string": "Поле «{field}» должно быть строкой",
    "{field} must be an integer": "Поле «{field}» должно быть целым числом",
    "{field} must be a number": "Поле «{field}» должно быть числом",
    "{field} must be true or false": "Поле «{field}» должно быть true или false",
    "{field} must be a list": "Поле «{field}» должно быть списком",
    "{field} must be an object": "Поле «{field}» должно быть объектом",
    "{field} has the wrong type": "У поля «{field}» неверный тип",
    "{field} must be at least {limit} characters": "Поле «{field}» должно быть не короче {limit} символов",
    "{field} must be one of {allowed}": "Поле «{field}» может быть только одним из: {allowed}",
    "{field} must not be empty": "Поле «{field}» не может быть пустым",
    "{field} must not be null": "Поле «{field}» не может быть null",
    "{field} must not contain NUL characters": "Поле «{field}» не может содержать символы NUL",
    "{service} is unavailable just now; try again shortly": "{service} сейчас недоступен; попробуйте чуть позже",
}

# Field names as `{field}` shows them.
FIELDS: dict[str, str] = {
    "after_seq": "after_seq",
    "cursor": "курсор",
    "token": "токен",
    "q": "поиск",
    "email": "адрес электронной почты",
    "display_name": "имя",
    "password": "пароль",
}
