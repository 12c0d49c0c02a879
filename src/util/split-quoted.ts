// Splitting SQL text that may hold double-quoted identifiers.

/**
 * `text` split at every `separator` outside double quotes, the quotes removed ("" inside quotes is
 * one "): a qualified name's parts, a list setting's elements.
 */
export function splitQuoted(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      if (quoted && text[i + 1] === '"') (current += '"'), (i += 1);
      else quoted = !quoted;
    } else if (c === separator && !quoted) (parts.push(current), (current = ''));
    else current += c;
  }
  parts.push(current);
  return parts;
}
