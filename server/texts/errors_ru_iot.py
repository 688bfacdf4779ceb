"""Russian error messages: iot. English template -> Russian, with the same {placeholders}."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # Channels, their keys and the ThingSpeak-style API
    "no such channel": "Такого канала нет",
    "no such channel of yours": "У вас нет такого канала",
    "no such channel, or it is not public": "Такого канала нет, или он не общедоступный",
    "no such public channel": "Такого общедоступного канала нет",
    "The channel was not found.": "Канал не найден.",
    "a channel has at most {limit} read keys": "У канала может быть не больше {limit} ключей чтения",
    "this channel takes one update per {interval} s (retry after {seconds} s)": (
        "Этот канал принимает не больше одного обновления за {interval} с (повторите через {seconds} с)"
    ),
    "no such read key": "Такого ключа чтения нет",
    "Please make sure that your API key is correct.": "Убедитесь, что API-ключ указан правильно.",
    "This account is suspended.": "Эта учётная запись заблокирована.",
    "this write key belongs to another channel": "Этот ключ записи принадлежит другому каналу",
    "the body is not valid JSON": "В теле запроса некорректный JSON",
    "the body is not UTF-8": "Тело запроса не в кодировке UTF-8",
    "unknown parameter {name}": "Неизвестный параметр {name}",
    "unknown member {name}": "Неизвестное поле {name}",
    "unknown timezone {zone}": "Неизвестный часовой пояс {zone}",
    "{field} must be a JavaScript name (letters, digits, _ and $, dotted), at most {limit} characters": (
        "Поле «{field}» должно быть именем JavaScript (буквы, цифры, _ и $, через точку) не длиннее {limit} символов"
    ),
    "note must be a string of at most 255 characters": "Поле «note» должно быть строкой не длиннее 255 символов",
    "retention_days must be a whole number of days": "Поле «retention_days» должно быть целым числом дней",
    # ThingSpeak-style writes: one update or a bulk of them
    "{field} must be a string or a number": "Поле «{field}» должно быть строкой или числом",
    "{field} must not contain control characters (found U+{codepoint})": (
        "Поле «{field}» не должно содержать управляющих символов (найден U+{codepoint})"
    ),
    "{field}: {value} looks like milliseconds since 1970; send seconds": (
        "Поле «{field}»: {value} похоже на миллисекунды с 1970 года; передайте секунды"
    ),
    "{field}: not a date and time: {value} (send 2018-03-07T10:26:02Z, 2018-03-07 10:26:02 UTC, "
    "2018-01-30 10:26:02 -0500 or seconds since 1970)": (
        "Поле «{field}»: {value} — не дата и время (передайте 2018-03-07T10:26:02Z, 2018-03-07 10:26:02 UTC, "
        "2018-01-30 10:26:02 -0500 или число секунд с 1970 года)"
    ),
    "{field}: {value} is before 1970": "Поле «{field}»: {value} — раньше 1970 года",
    "{field}: {value} is after {year}": "Поле «{field}»: {value} — позже {year} года",
    "{field}: {value} is {hours} hours ahead of the server's clock (at most {limit} accepted);"
    " is the device's clock or time zone set?": (
        "Поле «{field}»: {value} опережает часы сервера на {hours} ч (допустимо не больше {limit} ч);"
        " правильно ли настроены часы и часовой пояс устройства?"
    ),
    "nothing to write: send at least one field, status or location": (
        "Нечего записать: передайте хотя бы одно поле, status или местоположение"
    ),
    "updates must be a non-empty list": "Поле «updates» должно быть непустым списком",
    "updates is empty": "Поле «updates» пустое",
    "at most {limit} updates in one call": "В одном запросе можно передать не больше {limit} обновлений",
    "time_format must be absolute or relative": "Поле «time_format» должно быть absolute или relative",
    "updates[{index}] must be an object": "Элемент updates[{index}] должен быть объектом",
    "updates[{index}] has an unknown member {name}": "В элементе updates[{index}] неизвестное поле {name}",
    "updates[{index}] needs either created_at or delta_t": (
        "В элементе updates[{index}] нужен либо created_at, либо delta_t"
    ),
    "updates[{index}] has {count} values; at most {limit}": (
        "В элементе updates[{index}] значений: {count}, а можно не больше {limit}"
    ),
    "updates[{index}] has no time": "В элементе updates[{index}] нет времени",
    "{field} must be a number of seconds": "Поле «{field}» должно быть числом секунд",
    "{field} must be a positive number of seconds (zero only first)": (
        "Поле «{field}» должно быть положительным числом секунд (ноль — только в первом обновлении)"
    ),
    "updates: use created_at in every update or delta_t in every update, not both": (
        "Поле «updates»: укажите created_at во всех обновлениях или delta_t во всех обновлениях, но не вперемешку"
    ),
    "updates: the delta_t values add up to a first update before 1970": (
        "Поле «updates»: по сумме значений delta_t первое обновление оказывается раньше 1970 года"
    ),
    # An error about one update of several, named by its place (`updates[3]`) when its own text cannot be
    "{where}.{reason}": "{where}.{reason}",
    "{where}: {reason}": "Элемент {where}: {reason}",
    "two points carry the same created_at": "У двух записей одинаковый created_at",
    "a point with that created_at already exists in this channel": "В этом канале уже есть запись с таким created_at",
    "the server is taking too many writes just now; send them again": (
        "Сервер сейчас принимает слишком много записей; отправьте их ещё раз"
    ),
    "the server is shutting down; send it again": "Сервер завершает работу; отправьте ещё раз",
    "the points could not be stored just now; send them again": (
        "Сейчас не удалось сохранить данные; отправьте их ещё раз"
    ),
    # ThingSpeak-style reads
    "No entry was found.": "Запись не найдена.",
    "field must be a number from 1 to 8": "Поле «field» должно быть числом от 1 до 8",
    "offset must be hours from -12 to 14": "Поле «offset» должно быть числом часов от -12 до 14",
    "{field} must be one of {allowed} (minutes) or daily": (
        "Поле «{field}» должно быть одним из значений {allowed} (в минутах) или daily"
    ),
    "start is after end": "Значение «start» позже значения «end»",
    # Live channel entries over the WebSocket
    "{field} must be a non-negative integer": "Поле «{field}» должно быть неотрицательным целым числом",
    "api_key must be a string": "Поле «api_key» должно быть строкой",
    "no such channel, or it needs a read key": "Такого канала нет, или для него нужен ключ чтения",
    "already subscribed to this channel": "Вы уже подписаны на этот канал",
    "not subscribed to this channel": "Вы не подписаны на этот канал",
    "at most {limit} channel subscriptions per connection": (
        "На одно подключение можно подписаться не больше чем на {limit} каналов"
    ),
    # MQTT devices
    "no such MQTT device of yours": "У вас нет такого MQTT-устройства",
    "at most {limit} MQTT devices per account": "У одного аккаунта может быть не больше {limit} MQTT-устройств",
    "channels[{index}] must be an object with channel_id, publish, subscribe": (
        "Элемент channels[{index}] должен быть объектом с полями channel_id, publish и subscribe"
    ),
    "channels[{index}].channel_id must be a channel id": "Поле channels[{index}].channel_id должно быть id канала",
    "channels[{index}]: publish and subscribe must be true or false": (
        "Элемент channels[{index}]: publish и subscribe должны быть true или false"
    ),
    "channels[{index}]: allow publish, subscribe or both": (
        "Элемент channels[{index}]: разрешите publish, subscribe или и то и другое"
    ),
    "channels[{index}]: channel {channel_id} is listed twice": (
        "Элемент channels[{index}]: канал {channel_id} указан дважды"
    ),
    "no channel {channel_id} of yours": "У вас нет канала {channel_id}",
    # TalkBack
    "no such TalkBack of yours": "У вас нет такого TalkBack",
    "an account has at most {limit} TalkBacks": "У одного аккаунта может быть не больше {limit} TalkBack",
    "Please make sure that your TalkBack API key is correct.": "Убедитесь, что API-ключ TalkBack указан правильно.",
    "The TalkBack was not found.": "TalkBack не найден.",
    "The command was not found.": "Команда не найдена.",
    "no command was executed yet": "Ещё ни одна команда не выполнена",
    "send command_string or position": "Передайте command_string или position",
    "a TalkBack holds at most {limit} commands": "В очереди TalkBack может быть не больше {limit} команд",
    # Rules: the rule itself
    "no such rule on this channel": "У этого канала нет такого правила",
    "a channel has at most {limit} rules": "У канала может быть не больше {limit} правил",
    "a rule's kind cannot change; create another rule": "Тип правила изменить нельзя — создайте другое правило",
    "{field} must be a non-empty string of at most {limit} characters": (
        "Поле «{field}» должно быть непустой строкой не длиннее {limit} символов"
    ),
    # Rules: their conditions (config)
    "config must be an object": "Поле «config» должно быть объектом",
    "{field} is not a setting of this kind (allowed: {allowed})": (
        "У правила этого типа нет настройки «{field}» (допустимы: {allowed})"
    ),
    "{field} must be above or below": "Поле «{field}» должно быть above или below",
    "{field} must be at or below value (it is where a triggered rule re-arms)": (
        "Поле «{field}» должно быть не больше значения порога (value): на этом уровне сработавшее правило"
        " снова взводится"
    ),
    "{field} must be at or above value (it is where a triggered rule re-arms)": (
        "Поле «{field}» должно быть не меньше значения порога (value): на этом уровне сработавшее правило"
        " снова взводится"
    ),
    "{field} is not valid: {reason}": "В поле «{field}» ошибка: {reason}",
    "{field} reads no field (use field1..field8)": (
        "Выражение в поле «{field}» не читает ни одного поля канала (используйте field1..field8)"
    ),
    "{field} must be above output_min": "Поле «{field}» должно быть больше наименьшего выхода (output_min)",
    # Rules: their actions
    "{field} must be a list of 1 to {limit} actions": "Поле «{field}» должно быть списком от 1 до {limit} действий",
    "{field}.{setting} is not a setting of this action": "У этого действия нет настройки «{field}.{setting}»",
    "{field} must be an id": "Поле «{field}» должно быть id",
    "{field} must be a string of at most {limit} characters": (
        "Поле «{field}» должно быть строкой не длиннее {limit} символов"
    ),
    "{field}: unknown placeholder {placeholder} (use {names})": (
        "Поле «{field}»: неизвестная подстановка {placeholder} (можно использовать {names})"
    ),
    "{field} has an unmatched brace": "В поле «{field}» есть фигурная скобка без пары",
    "{field}: {reason}": "Поле «{field}»: {reason}",
    "{field} is not a TalkBack of yours": "Поле «{field}» указывает не на ваш TalkBack",
    "{field} is not a channel of yours": "Поле «{field}» указывает не на ваш канал",
    # Widgets
    "no such widget": "Такого виджета нет",
    "{field} is not a member of a {kind} widget": "У виджета типа {kind} нет поля «{field}»",
    "{field} is required for a {kind} widget": "Для виджета типа {kind} нужно поле «{field}»",
    '{field} must be {{"field": n}} or {{"talkback_id": id}}': (
        'Поле «{field}» должно быть {{"field": n}} или {{"talkback_id": id}}'
    ),
    "{field} must be a list of 1 to {limit} thresholds": "Поле «{field}» должно быть списком от 1 до {limit} порогов",
    '{field} must be {{"at": number, "level": ...}}': 'Поле «{field}» должно быть {{"at": число, "level": ...}}',
    "{field} must be above the threshold before it": "Поле «{field}» должно быть больше предыдущего порога",
    "{field} must be above {minimum}": "Поле «{field}» должно быть больше «{minimum}»",
    "{field} must be above 0 and at most max - min": "Поле «{field}» должно быть больше 0 и не больше max - min",
    "{field} must contain {{value}}": "Поле «{field}» должно содержать {{value}}",
    # Shared by devices, rules and widgets
    "{field} must be a list of at most {limit}": "Поле «{field}» должно быть списком не длиннее {limit} элементов",
    "{field} must be between {low} and {high}": "Поле «{field}» должно быть в пределах от {low} до {high}",
    "{field} must be a field number from 1 to 8": "Поле «{field}» должно быть номером поля канала от 1 до 8",
    "{field} must not contain control characters": "Поле «{field}» не должно содержать управляющих символов",
}

# Field names as `{field}` shows them (the rule form's labels for a rule's settings). Fields with an index in them
# (`actions[0].url`, `widgets[2].target`) stay as they are.
FIELDS: dict[str, str] = {
    "channel_id": "id канала",
    "after_entry_id": "после записи (after_entry_id)",
    "channels": "каналы",
    "kind": "тип",
    "actions": "действия",
    "widgets": "виджеты",
    "config.field": "номер поля",
    "config.op": "когда значение",
    "config.value": "значение",
    "config.clear": "сброс при",
    "config.for_seconds": "не меньше, секунд",
    "config.seconds": "нет данных в течение, секунд",
    "config.expression": "выражение",
    "config.setpoint": "уставка",
    "config.kp": "Kp",
    "config.ki": "Ki",
    "config.kd": "Kd",
    "config.output_min": "наименьший выход",
    "config.output_max": "наибольший выход",
    "config.reverse": "обратное действие",
    "config.min_change": "наименьшее изменение",
}
