// The IoT screens' strings (see core/i18n.js): English and Russian, each in its own file to keep files small.

import { en } from './strings-en.js';
import { ru } from './strings-ru.js';

export const strings = { en, ru };
