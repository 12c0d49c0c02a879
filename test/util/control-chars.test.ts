import { describe, expect, it } from 'vitest';
import { escapeControlCharacters } from '../../src/util/control-chars.js';
import { escapeMarkdown } from '../../src/report/render-diff.js';

describe('escapeControlCharacters', () => {
  it('shows ESC, OSC, BEL, CR, C1 and bidi overrides as \\uNNNN; keeps newlines and tabs', () => {
    expect(escapeControlCharacters('a\u001b[2Jb\u001b]0;pwned\u0007c\rd\u0085e\u202ef\n\tg')).toBe('a\\u001b[2Jb\\u001b]0;pwned\\u0007c\\u000dd\\u0085e\\u202ef\n\tg');
  });
  it("lets drift-guard's own colours through only when asked, and nothing else", () => {
    expect(escapeControlCharacters('\u001b[31mred\u001b[39m \u001b[2J', true)).toBe('\u001b[31mred\u001b[39m \\u001b[2J');
    expect(escapeControlCharacters('\u001b[31mred\u001b[39m')).toBe('\\u001b[31mred\\u001b[39m');
  });
  it('keeps JSON valid: an escaped C1 character parses back to itself', () => {
    const json = escapeControlCharacters(JSON.stringify({ m: 'x\u0085y\u202e' }));
    expect(JSON.parse(json)).toEqual({ m: 'x\u0085y\u202e' });
  });
  it('markdown reports escape them too', () => {
    expect(escapeMarkdown('t\u001b]8;;http://evil\u0007')).not.toMatch(/[\u0000-\u001f]/);
  });
});
