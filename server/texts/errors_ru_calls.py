"""Russian error messages: calls. English template -> Russian, with the same {placeholders}."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # Frames: ids, session descriptions, candidates (server/calls/model.py, ws.py, routes.py).
    "{field} must be 1 to 64 letters, digits, '-' or '_'": (
        "Поле «{field}» должно содержать от 1 до 64 латинских букв, цифр, «-» или «_»"
    ),
    "{field} must be an object with type and sdp": "Поле «{field}» должно быть объектом с полями type и sdp",
    "{field}.type must be offer or answer": "«{field}»: поле type должно быть offer или answer",
    "{field}.type must be {kind}": "«{field}»: поле type должно быть {kind}",
    "{field}.sdp must be a string": "«{field}»: поле sdp должно быть строкой",
    "{field}.sdp takes at most {limit} characters": "«{field}»: поле sdp может быть не длиннее {limit} символов",
    "{field}.sdp is not a session description (it must start with v=0)": (
        "«{field}»: в поле sdp не описание сеанса (оно должно начинаться с v=0)"
    ),
    "{field}.sdp needs an origin (o=) and a media section (m=)": (
        "«{field}»: в поле sdp нужны источник (o=) и хотя бы одна медиасекция (m=)"
    ),
    "{field}.sdp has a line that is not type=value": "«{field}»: в поле sdp есть строка не в формате type=value",
    "{field} must be a list of 1 to {limit} candidates": (
        "Поле «{field}» должно быть списком от 1 до {limit} кандидатов"
    ),
    "each candidate is {shape}": "Каждый кандидат должен быть объектом вида {shape}",
    "candidate must be a string of at most {limit} characters": (
        "Поле candidate должно быть строкой не длиннее {limit} символов"
    ),
    "a candidate line starts with 'candidate:'": "Строка кандидата должна начинаться с «candidate:»",
    "sdpMid must be a short string": "Поле sdpMid должно быть короткой строкой",
    "sdpMLineIndex must be an integer from 0 to 255": "Поле sdpMLineIndex должно быть целым числом от 0 до 255",
    "usernameFragment must be a short string": "Поле usernameFragment должно быть короткой строкой",
    "{field} is milliseconds from {min} to {max}": "Поле «{field}» задаётся в миллисекундах, от {min} до {max}",
    "streams maps up to 8 stream ids to usermedia or screenshare": (
        "В streams можно указать не больше 8 потоков, каждому — usermedia или screenshare"
    ),
    "streams maps stream ids to usermedia or screenshare": (
        "В streams каждому идентификатору потока должно соответствовать usermedia или screenshare"
    ),
    "chat_id is required": "Укажите chat_id",
    "the link needs its token": "В ссылке не хватает токена",
    "this link does not decline that call": "По этой ссылке нельзя отклонить этот звонок",
    # Calls and who is in them (model.py, gate.py, direct.py, service.py, rooms.py).
    "no such call": "Такого звонка нет",
    "the call has ended": "Звонок уже завершён",
    "this party_id is not a party of the call": "Устройство с этим party_id не участвует в звонке",
    "this direct chat has nobody else in it": "В этом личном чате больше никого нет",
    "call.invite is for direct chats; use call.join in a group": (
        "Команда call.invite — для личных чатов; в группе используйте call.join"
    ),
    "call.join is for group chats; use call.invite in a direct chat": (
        "Команда call.join — для групповых чатов; в личном чате используйте call.invite"
    ),
    "you cannot call this user": "Вы не можете позвонить этому пользователю",
    "a call with this call_id exists already": "Звонок с таким call_id уже есть",
    "this chat has a call going on already": "В этом чате уже идёт звонок",
    "only the caller selects an answer": "Выбрать ответ может только тот, кто звонит",
    "that party has not answered this call": "Это устройство не отвечало на звонок",
    "you cannot answer your own call": "Нельзя ответить на собственный звонок",
    "another device answered this call": "На этот звонок уже ответили с другого устройства",
    "only the callee rejects; the caller hangs up": (
        "Отклонить звонок может только тот, кому звонят; звонящий может просто завершить звонок"
    ),
    "the call was answered; hang up instead": "На звонок уже ответили — теперь его можно только завершить",
    "negotiate once the call is answered": "Согласовать соединение можно только после ответа на звонок",
    "{command} is for 1:1 calls": "Команда {command} — только для звонков один на один",
    "call.candidates (the SFU takes the candidates in your offer) is for 1:1 calls": (
        "Команда call.candidates — только для звонков один на один (в групповом звонке SFU берёт кандидатов "
        "из вашего offer)"
    ),
    "declining is for 1:1 calls": "Отклонить можно только звонок один на один",
    "target is for group calls": "Параметр target — только для групповых звонков",
    "group calls are not enabled on this server": "На этом сервере групповые звонки отключены",
    "this party_id is in the room already": "Устройство с этим party_id уже в групповом звонке",
    "a publish renegotiation is your offer": "Для повторного согласования публикации (publish) пришлите свой offer",
    "answer the server's subscribe offer with an answer": (
        "На offer сервера для подписки (subscribe) нужно ответить своим answer"
    ),
    'a group call negotiates with target "publish" or "subscribe"': (
        "В групповом звонке target должен быть «publish» или «subscribe»"
    ),
    # The SFU (server/calls/sfu/).
    "the SFU is shutting down": "Медиасервер (SFU) завершает работу",
    "this server holds its limit of {limit} rooms": (
        "На этом сервере уже идёт наибольшее возможное число групповых звонков: {limit}"
    ),
    "this participant is in the room already": "Этот участник уже в групповом звонке",
    "the room holds its limit of {limit} participants": "В групповом звонке уже наибольшее число участников: {limit}",
    "this participant is not in this room": "Этого участника нет в групповом звонке",
    "no offer is waiting for an answer": "Сейчас нет offer, который ждёт answer",
    "stream {stream}: purpose must be one of {choices}": "Поток {stream}: назначение должно быть одним из: {choices}",
    "the offer is not SDP this server can read: {reason}": "Сервер не может прочитать SDP в offer: {reason}",
    "the offer holds no audio or video m-line": "В offer нет медиасекции (m=) с аудио или видео",
    "m-line {mid} sends stream {stream}, which streams does not describe": (
        "Медиасекция {mid} передаёт поток {stream}, которого нет в streams"
    ),
    "more than one {kind} track for {purpose}": "Больше одной дорожки {kind} для {purpose}",
    "the offer cannot be answered: {reason}": "Не удалось ответить на offer: {reason}",
    "the answer cannot be applied: {reason}": "Не удалось применить answer: {reason}",
    # Between the server's processes (cluster.py).
    "the process holding this call is shutting down": "Процесс сервера, который ведёт этот звонок, завершает работу",
    "the process holding this chat's call does not answer": (
        "Процесс сервера, который ведёт звонок этого чата, не отвечает"
    ),
}

# Field names as `{field}` shows them.
FIELDS: dict[str, str] = {
    "call_id": "идентификатор звонка",
    "party_id": "идентификатор устройства",
    "selected_party_id": "выбранное устройство",
    "user": "пользователь",
    "chat_id": "идентификатор чата",
    "offer": "предложение (offer)",
    "answer": "ответ (answer)",
    "sdp": "SDP",
    "candidates": "кандидаты ICE",
    "lifetime": "время ожидания",
    "reason": "причина",
    "streams": "потоки",
}
