// The IoT screens' strings (see core/i18n.js): English and Russian, each in its own files to keep files small (the
// automation screens, rules and TalkBack, have theirs).

import { en as automationEn } from './strings-automation-en.js';
import { ru as automationRu } from './strings-automation-ru.js';
import { en } from './strings-en.js';
import { ru } from './strings-ru.js';

export const strings = { en: { ...en, ...automationEn }, ru: { ...ru, ...automationRu } };
