"""Russian error messages: chat. English template -> Russian, with the same {placeholders}."""

from __future__ import annotations

_ACCEPTED = (
    "можно отправлять изображения (JPEG, PNG, WebP, GIF), видео (MP4, QuickTime, WebM), голосовые (Ogg, WebM,"
    " MP4/M4A, MP3) и документы (PDF, обычный текст, Office, OpenDocument, EPUB, ZIP)"
)

MESSAGES: dict[str, str] = {
    # Chats and groups
    "no such chat": "Такого чата нет",
    "a direct chat needs another user": "Для личного чата нужен другой пользователь",
    "a direct chat needs user_id": "Для личного чата нужен user_id",
    "a direct chat has no {field}": "У личного чата нет поля «{field}»",
    "a direct chat has no admins": "В личном чате нет администраторов",
    "a direct chat cannot be left; archive or block instead": (
        "Из личного чата нельзя выйти: отправьте его в архив или заблокируйте собеседника"
    ),
    "a group needs a name": "У группы должно быть название",
    "a group takes members, not user_id": "Для группы передайте members, а не user_id",
    "a group has at most {limit} members": "В группе может быть не больше {limit} участников",
    "the group is full ({limit} members)": "Группа заполнена (участников: {limit})",
    "only the group's admins may do this": "Это могут делать только администраторы группы",
    "only the group's owners may do this": "Это может делать только владелец группы",
    "admins cannot remove admins or the owner": "Администратор не может удалить другого администратора или владельца",
    "that user is not a member": "Этот пользователь не состоит в группе",
    "use leave to leave a group": "Чтобы выйти из группы, используйте leave",
    "the owner hands over ownership by making another member owner": (
        "Владелец передаёт права, назначив владельцем другого участника"
    ),
    "avatar_id must be an image you uploaded to this chat": (
        "Аватаром (avatar_id) может быть только изображение, которое вы загрузили в этот чат"
    ),
    "nothing to change: send name, description, avatar_id or broadcast": (
        "Нечего менять: передайте name, description, avatar_id или broadcast"
    ),
    "{field} must be a list of at most {limit} user ids": (
        "Поле «{field}» должно быть списком id пользователей, не больше {limit}"
    ),
    "{field} must hold user ids (strings)": "Поле «{field}» должно содержать id пользователей (строки)",
    "archived must be true or false": "Поле «archived» должно быть true или false",
    "state must be open or all": "Поле «state» должно быть open или all",
    "give before or after, not both": "Укажите before или after, но не оба сразу",
    # Invites
    "no such invite": "Такого приглашения нет",
    "no such invite, or already revoked": "Такого приглашения нет, или оно уже отозвано",
    "this invite link is no longer valid": "Эта ссылка-приглашение больше не действует",
    "expires_in must be between 60 seconds and a year": "Срок действия (expires_in) должен быть от 60 секунд до года",
    "max_uses must be between 1 and 100000": "Число использований (max_uses) должно быть от 1 до 100000",
    # Messages
    "no such message": "Такого сообщения нет",
    "you cannot send messages to this user": "Вы не можете отправлять сообщения этому пользователю",
    "only the channel's owner and admins post in it": "В канале пишут только владелец и администраторы",
    "too many messages are being sent just now; send it again": (
        "Сейчас отправляется слишком много сообщений; отправьте ещё раз"
    ),
    "a message needs text": "В сообщении должен быть текст",
    "text must not be empty": "Текст не может быть пустым",
    "text must not contain NUL characters": "Текст не может содержать символы NUL",
    "an end-to-end chat takes ciphertext, not text": (
        "В чат со сквозным шифрованием сообщение отправляется зашифрованным (ciphertext), а не открытым текстом (text)"
    ),
    "ciphertext must be base64": "Поле «ciphertext» должно быть в base64",
    "an end-to-end chat's reactions are encrypted silent messages, not message.react": (
        "В чате со сквозным шифрованием реакции отправляются зашифрованными тихими сообщениями (silent),"
        " а не через message.react"
    ),
    "only an end-to-end chat takes silent messages": (
        "Тихие сообщения (silent) бывают только в чатах со сквозным шифрованием"
    ),
    "reply_to is not a message of this chat": "Сообщение, на которое вы отвечаете (reply_to), не из этого чата",
    "attachments must be your own uploads to this chat, not used by another message": (
        "Вложениями могут быть только ваши файлы, загруженные в этот чат и ещё не использованные в другом сообщении"
    ),
    "mentions must be a list of user ids": "Упоминания (mentions) должны быть списком id пользователей",
    "mentions must name members of the chat": "Упоминать можно только участников чата",
    "mentions are part of the ciphertext in an end-to-end chat": (
        "В чате со сквозным шифрованием упоминания передаются внутри шифротекста"
    ),
    "a forward carries the original's text, not its own": (
        "У пересылаемого сообщения нет своего текста: оно несёт текст оригинала"
    ),
    "end-to-end messages are forwarded by the client, re-encrypted": (
        "Сообщения со сквозным шифрованием пересылает клиент, зашифровав их заново"
    ),
    "only the sender may edit a message": "Редактировать сообщение может только его отправитель",
    "only the sender (or a group admin) may delete for everyone": (
        "Удалить сообщение у всех может только отправитель (или администратор группы)"
    ),
    "too late to delete this message for everyone": "Удалить это сообщение у всех уже поздно",
    "for must be me or everyone": "Поле «for» должно быть me или everyone",
    "emoji must be one emoji": "Реакция должна быть одним эмодзи",
    "message_id must be at least 1": "Поле «message_id» должно быть не меньше 1",
    "client_id must be a UUID": "Поле «client_id» должно быть UUID",
    # Presence
    "presence must be everyone, contacts or nobody": "Поле «presence» должно быть everyone, contacts или nobody",
    "user_ids must be a list of user ids": "Поле «user_ids» должно быть списком id пользователей",
    "a connection follows at most {limit} users": (
        "Одно подключение может следить не больше чем за {limit} пользователями"
    ),
    # Blocks and reports
    "you cannot block yourself": "Нельзя заблокировать самого себя",
    "that user is not blocked": "Этот пользователь не заблокирован",
    "no such report": "Такой жалобы нет",
    "this report is already resolved": "Эта жалоба уже рассмотрена",
    "{field} must be one of {choices}": "Поле «{field}» должно быть одним из значений: {choices}",
    # Attachments
    "no such attachment": "Такого вложения нет",
    "this attachment has no thumbnail": "У этого вложения нет миниатюры",
    "the file is empty": "Файл пустой",
    "the file is larger than {limit} bytes": "Файл больше {limit} байт",
    "the image is larger than {limit} bytes": "Изображение больше {limit} байт",
    "the image has more than {limit} pixels": "В изображении больше {limit} пикселей",
    "the image has more than {limit} pixels (all frames counted)": (
        "В изображении больше {limit} пикселей (считая все кадры)"
    ),
    "the image could not be read": "Не удалось прочитать изображение",
    "this kind of file is not accepted; send images (JPEG, PNG, WebP, GIF), video (MP4, QuickTime, WebM), voice"
    " (Ogg, WebM, MP4/M4A, MP3) and documents (PDF, plain text, Office, OpenDocument, EPUB, ZIP)": (
        "Такие файлы не принимаются; " + _ACCEPTED
    ),
    "{mime} files are not accepted; send images (JPEG, PNG, WebP, GIF), video (MP4, QuickTime, WebM), voice"
    " (Ogg, WebM, MP4/M4A, MP3) and documents (PDF, plain text, Office, OpenDocument, EPUB, ZIP)": (
        "Файлы {mime} не принимаются; " + _ACCEPTED
    ),
    "the multipart body is malformed": "Тело multipart составлено неверно",
    "the multipart body ended inside the file": "Тело multipart оборвалось посреди файла",
    "send the file in a form field named file": "Отправьте файл в поле формы с именем file",
    "a form field must not hold another multipart body": "Поле формы не может содержать вложенное тело multipart",
    "{field} must be a list of 1 to {limit} attachment ids": (
        "Поле «{field}» должно быть списком id вложений: от 1 до {limit}"
    ),
    "{field} must hold attachment ids": "Поле «{field}» должно содержать id вложений",
    "{field} names an attachment twice": "В поле «{field}» одно вложение указано дважды",
    # Web Push subscriptions
    "the body must be a PushSubscription JSON object": "Тело запроса должно быть JSON-объектом PushSubscription",
    "endpoint must be a non-empty string": "Поле «endpoint» должно быть непустой строкой",
    "endpoint must be a URL without spaces or control characters": (
        "Поле «endpoint» должно быть URL без пробелов и управляющих символов"
    ),
    "endpoint must be an https URL of a push service (got {reason})": (
        "Поле «endpoint» должно быть https-адресом push-сервиса (а здесь: {reason})"
    ),
    "keys must be an object with p256dh and auth": "Поле «keys» должно быть объектом с p256dh и auth",
    "keys.p256dh must be an uncompressed P-256 public key": (
        "Поле «keys.p256dh» должно быть несжатым открытым ключом P-256"
    ),
    "keys.auth must be 16 bytes, base64url-encoded": "Поле «keys.auth» должно содержать 16 байт в base64url",
    "expirationTime must be a number or null": "Поле «expirationTime» должно быть числом или null",
    "expirationTime is in the past": "Срок expirationTime уже прошёл",
    "{field} must be a non-empty string": "Поле «{field}» должно быть непустой строкой",
    "{field} must be base64url-encoded": "Поле «{field}» должно быть в кодировке base64url",
    # The end-to-end key directory
    "this device has not published its keys: PUT /api/keys/device first": (
        "Это устройство ещё не опубликовало свои ключи: сначала выполните PUT /api/keys/device"
    ),
    "an account has keys on at most {limit} devices; remove a device's keys or sign it out": (
        "Ключи учётной записи можно хранить не больше чем на {limit} устройствах: удалите ключи одного из устройств"
        " или выйдите на нём из учётной записи"
    ),
    "a device holds at most {limit} one-time prekeys; it has {count} and these would add {adding}": (
        "На устройстве может храниться не больше {limit} одноразовых ключей: сейчас их {count},"
        " а эти добавили бы ещё {adding}"
    ),
    "{field} {key_id} is already stored with another public key; use a new key id": (
        "Значение {key_id} поля «{field}» уже сохранено с другим открытым ключом; выберите новый id ключа"
    ),
    "{field} {key_id} appears twice": "Значение {key_id} поля «{field}» встречается дважды",
    "user_id is not a user id": "В user_id должен быть id пользователя",
    "{field} must be an integer from 0 to {limit}": "Поле «{field}» должно быть целым числом от 0 до {limit}",
    "{field} must be a base64 string": "Поле «{field}» должно быть строкой base64",
    "{field} is not base64": "Поле «{field}» не в формате base64",
    "{field} is not base64 (wrong length or padding)": (
        "Поле «{field}» не в формате base64 (неверная длина или дополнение «=»)"
    ),
    "{field} is shorter than {limit} bytes": "Поле «{field}» должно быть не короче {limit} байт",
    "{field} is longer than {limit} bytes": "Поле «{field}» должно быть не длиннее {limit} байт",
    "{field} must hold at least {count} prekey": "В поле «{field}» должно быть ключей не меньше: {count}",
    "{field} holds more than {limit} prekeys": "В поле «{field}» больше {limit} ключей",
    "{field} must be a list of device ids": "Поле «{field}» должно быть списком id устройств",
    "{field} holds more than {limit} ids": "В поле «{field}» больше {limit} id",
    "{field} holds something that is not a device id": (
        "В поле «{field}» есть значение, которое не является id устройства"
    ),
    # To-device messages
    "{field} must be 1 to 64 letters, digits, dots, dashes or underscores": (
        "Поле «{field}» должно содержать от 1 до 64 латинских букв, цифр, точек, дефисов или подчёркиваний"
    ),
    "{field} holds something that is not a user id": (
        "В поле «{field}» есть значение, которое не является id пользователя"
    ),
    "{field} holds more than {limit} payloads": "В поле «{field}» больше {limit} сообщений",
    "{field} must hold at least one payload": "В поле «{field}» должно быть хотя бы одно сообщение",
    # People
    "send either username or email": "Укажите что-то одно: имя пользователя или e-mail",
    "no one can be found by this; check it, or ask them for their username": (
        "По этим данным никого не найти; проверьте их или спросите у человека его имя пользователя"
    ),
}

# Field names as `{field}` shows them. The key directory's and Web Push's names (signed_prekey, keys.p256dh,
# endpoint ...) are the protocols' own and stay as they are.
FIELDS: dict[str, str] = {
    "text": "текст",
    "ciphertext": "шифротекст",
    "name": "название",
    "description": "описание",
    "members": "участники",
    "user_ids": "пользователи",
    "attachments": "вложения",
    "action": "действие",
}
