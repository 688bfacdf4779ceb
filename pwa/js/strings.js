// The strings of the areas the shell carries (see core/i18n.js), added once at start by app.js. Areas whose
// screens load on first use (IoT, admin) add theirs with them (routes.js).

import { strings as account } from './account/strings.js';
import { strings as calls } from './calls/strings.js';
import { strings as chat } from './chat/strings.js';
import { strings as chatScreens } from './chat/strings-screens.js';
import { strings as shell } from './core/strings.js';
import { strings as people } from './people/strings.js';

export const catalogues = [shell, chat, chatScreens, calls, people, account];
