import { describe, expect, it } from 'vitest';
import { maskSecrets, passwordOf, registerConnectionString, registerSecret } from '../../src/util/secrets.js';

describe('secret masking', () => {
  it('masks passwords in URLs even when never registered', () => {
    expect(maskSecrets('connect postgres://u:p%40ss@h:5432/d failed')).toBe('connect postgres://u:***@h:5432/d failed');
    expect(maskSecrets('postgresql://h/d?user=u&password=xyz&sslmode=require')).toBe('postgresql://h/d?user=u&password=***&sslmode=require');
    expect(maskSecrets("host=h password='a b' user=u")).toBe('host=h password=*** user=u');
  });

  it('masks a registered secret wherever it appears, raw or URL-encoded', () => {
    const display = registerConnectionString('postgresql://app:w0rd/with@chars@db/app');
    expect(display).not.toContain('w0rd');
    registerSecret('pa ss/word');
    expect(maskSecrets('error: password "pa ss/word" (pa%20ss%2Fword) rejected')).toBe('error: password "***" (***) rejected');
  });

  it('extracts passwords from URL and key=value forms', () => {
    expect(passwordOf('postgresql://u:se%2Fcret@h/d')).toBe('se/cret');
    expect(passwordOf('postgresql://u@h/d?password=q')).toBe('q');
    expect(passwordOf('host=h password=kv user=u')).toBe('kv');
    expect(passwordOf('postgresql://u@h/d')).toBeUndefined();
  });
});
