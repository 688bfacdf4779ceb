// Every area's strings (see core/i18n.js), added once at start by app.js. An area with strings lists them here.

import { strings as chat } from './chat/strings.js';
import { strings as shell } from './core/strings.js';

export const catalogues = [shell, chat];
