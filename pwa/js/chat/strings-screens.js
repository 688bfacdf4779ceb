// More of the chat screens' strings, English and Russian each in its own file to keep files small (core/i18n.js).

import { en } from './strings-screens-en.js';
import { ru } from './strings-screens-ru.js';

export const strings = { en, ru };
