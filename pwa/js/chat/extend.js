// Where other domains plug into the chat screens without chat importing them: parts of a conversation's
// header (calls: the call buttons and the "join the call" banner), and how a message kind other than text is
// shown and summed up (calls: a call entry). Registered from a domain's init (calls/init.js).

const headerParts = [];
const kinds = new Map(); // message kind -> {element(chat, message, view), preview(message)}

/**
 * `build({chatId, getChat, signal})` → {actions?: Node, banner?: Node, update?(chat)}: called once per
 * conversation screen; `actions` go beside the title, `banner` under the header, `update` when the chat changes.
 */
export function addHeaderPart(build) {
  headerParts.push(build);
}

/** The header parts of every registered domain for one conversation screen. */
export function buildHeaderParts(context) {
  return headerParts.map((build) => build(context)).filter(Boolean);
}

/** Show messages of `kind` with `element(chat, message, view)` (an <li>) and sum them up with `preview`. */
export function addMessageKind(kind, { element, preview }) {
  kinds.set(kind, { element, preview });
}

export function messageKind(kind) {
  return kinds.get(kind) || null;
}
