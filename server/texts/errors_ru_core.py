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
}

# Field names as `{field}` shows them.
FIELDS: dict[str, str] = {}
