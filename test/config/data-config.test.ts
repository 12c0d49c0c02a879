import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load-config.js';
import { DriftGuardError } from '../../src/errors.js';

// check.data, check.stats-file and check.thresholds: the data-aware gate's settings.

const parse = (text: string) => parseConfigText(text, path.join('/project', '.drift-guard.yml'), '/project').config.check;

describe('data-aware gate settings', () => {
  it('are on by default with small, fast values', () => {
    const check = parse('');
    expect(check.data).toEqual({ enabled: true, rows: 200, seed: 1, budget: 60, skip: [] });
    expect(check['stats-file']).toBeUndefined();
    expect(check.thresholds).toEqual({ 'rewrite-seconds': 5 });
  });

  it('keeps given values', () => {
    const check = parse('check:\n  data:\n    rows: 1000\n    seed: 7\n    skip: [audit.*]\n  stats-file: db/stats.json\n  thresholds:\n    rewrite-seconds: 30\n');
    expect(check.data).toMatchObject({ enabled: true, rows: 1000, seed: 7, skip: ['audit.*'] });
    expect(check['stats-file']).toBe('db/stats.json');
    expect(check.thresholds['rewrite-seconds']).toBe(30);
  });

  it('rejects bad values and unknown keys at the key', () => {
    const error = (() => {
      try {
        parse('check:\n  data:\n    rows: 0\n    rowz: 3\n');
      } catch (e) {
        return e as DriftGuardError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DriftGuardError);
    expect(error!.exitCode).toBe(2);
    expect([error!.message, ...error!.details].join('\n')).toMatch(/check\.data\.rows/);
    expect([error!.message, ...error!.details].join('\n')).toMatch(/rowz/);
  });
});
