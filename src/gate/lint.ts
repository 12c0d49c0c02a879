// squawk on the SQL of a PR's new migrations (check.lint). squawk-cli is an optional dependency
// whose platform packages carry the binary; when it is missing the gate says so in a notice.

import { trackChild } from '../util/child-process.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Finding } from '../report/finding.js';

export interface LintInput {
  /** The file named in findings (project-relative). */
  readonly file: string;
  readonly sql: string;
  /** Lines before `sql` in `file`, so that reported lines point into the real file. */
  readonly lineOffset: number;
}

interface SquawkViolation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly level: string;
  readonly message: string;
  readonly help?: string;
  readonly rule_name: string;
}

export async function squawkLint(inputs: readonly LintInput[], postgresMajor: number): Promise<Finding[]> {
  if (inputs.length === 0) return [];
  let launcher: string;
  try {
    launcher = createRequire(import.meta.url).resolve('squawk-cli/js/bin/squawk');
  } catch {
    return [{ check: 'lint', code: 'LINT', severity: 'notice', message: 'check.lint is on but squawk is not installed (npm install squawk-cli); the new migrations were not linted' }];
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-lint-'));
  try {
    const byTemp = new Map<string, LintInput>();
    inputs.forEach((input, i) => {
      const temp = path.join(dir, `${i}.sql`);
      writeFileSync(temp, input.sql);
      byTemp.set(temp, input);
    });
    const output = await run(process.execPath, [launcher, '--reporter', 'json', '--pg-version', String(postgresMajor), ...byTemp.keys()]);
    const violations = JSON.parse(output.trim() === '' ? '[]' : output) as SquawkViolation[];
    return violations.map((v) => {
      const input = byTemp.get(v.file);
      return {
        check: 'lint',
        code: 'LINT',
        severity: v.level === 'Error' ? 'error' : 'warning',
        message: `squawk ${v.rule_name}: ${v.message}${v.help === undefined ? '' : ` ${v.help}`}`,
        ...(input === undefined ? {} : { file: input.file, line: input.lineOffset + v.line + 1, column: v.column + 1 }),
        details: { rule: v.rule_name },
      } satisfies Finding;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    void trackChild(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    // squawk exits 1 when it finds something; only output that is not JSON is a failure.
    child.on('close', () => (out.trim().startsWith('[') || out.trim() === '' ? resolve(out) : reject(new Error(`squawk failed: ${(err || out).slice(0, 300)}`))));
  });
}
