// Text from outside (a migration's SQL, PostgreSQL's messages, file names, tool output) may hold
// control characters: `ESC[2J` clears a terminal, an OSC sequence retitles it or writes a link,
// `\r` overwrites a line, bidi overrides reorder what a reviewer reads. Everything drift-guard
// prints or renders goes through escapeControlCharacters(): such characters are shown as \uNNNN
// (also a valid escape inside JSON strings); newlines and tabs stay.

/** The SGR sequences drift-guard's own terminal styles produce (bold, dim, colours, resets). */
const OWN_STYLES = /\u001b\[(?:1|2|22|31|32|33|36|39)m/y;

const BIDI = new Set([0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]);

/** Escapes control characters; `keepOwnStyles` lets drift-guard's colour sequences through. */
export function escapeControlCharacters(text: string, keepOwnStyles = false): string {
  // Fast path: nothing to escape (the common case).
  if (!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(text)) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x1b && keepOwnStyles) {
      OWN_STYLES.lastIndex = i;
      const own = OWN_STYLES.exec(text);
      if (own !== null) {
        out += own[0];
        i += own[0].length - 1;
        continue;
      }
    }
    // \uNNNN: readable in text, and a valid escape inside a JSON string (--json output goes through here too).
    if ((code < 0x20 && code !== 0x0a && code !== 0x09) || (code >= 0x7f && code <= 0x9f) || BIDI.has(code)) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += text[i];
  }
  return out;
}
