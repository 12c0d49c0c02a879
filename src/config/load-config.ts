// Finds, parses and validates .drift-guard.yml. Every problem in the file is reported at once,
// each located as file:line:column, and unknown keys get a "did you mean" suggestion.

import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { DriftGuardError } from '../errors.js';
import { configSchema, type DriftGuardConfig } from './config-schema.js';
import { closestMatch } from './suggest.js';

export const CONFIG_FILE_NAMES = ['.drift-guard.yml', '.drift-guard.yaml'] as const;

export type ConfigPath = readonly (string | number)[];

export interface LoadedConfig {
  readonly config: DriftGuardConfig;
  /** Absolute path of the file, or undefined when no file was found and defaults apply. */
  readonly file: string | undefined;
  /** "file:line:column" of a key (or of its value), or a description when there is no file. */
  locate(keyPath: ConfigPath, part?: 'key' | 'value'): string;
}

export interface LoadConfigOptions {
  /** Explicit --config path; when absent the file is searched for from `cwd` upwards. */
  readonly configPath?: string | undefined;
  readonly cwd: string;
}

export function findConfigFile(startDir: string): string | undefined {
  let dir = path.resolve(startDir);
  for (;;) {
    for (const name of CONFIG_FILE_NAMES) {
      const candidate = path.join(dir, name);
      if (!existsSync(candidate)) continue;
      if (statSync(candidate).isFile()) return candidate;
      // Not skipped: a config file that is something else would otherwise let a parent folder's config apply unnoticed.
      throw new DriftGuardError('CONFIG_INVALID', `${candidate} is a ${statSync(candidate).isDirectory() ? 'directory' : 'special file'}, not a config file; remove or rename it (or pass --config)`);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function loadConfig(options: LoadConfigOptions): LoadedConfig {
  const file = options.configPath === undefined ? findConfigFile(options.cwd) : path.resolve(options.cwd, options.configPath);
  if (file === undefined) {
    return {
      config: configSchema.parse({}),
      file: undefined,
      locate: (keyPath) => `${keyPath.join('.')} (default; no ${CONFIG_FILE_NAMES[0]} found)`,
    };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new DriftGuardError(
      'CONFIG_NOT_FOUND',
      `config file ${displayPath(file, options.cwd)} ${reason}; pass an existing file to --config or drop the option to search for ${CONFIG_FILE_NAMES[0]}`,
    );
  }
  return parseConfigText(text, file, options.cwd);
}

/** Parses and validates config text; `file` is used for locations only. */
export function parseConfigText(text: string, file: string, cwd: string): LoadedConfig {
  const shown = displayPath(file, cwd);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${shown}:${line}:${col}`;
  };

  const problems: string[] = [];
  for (const error of doc.errors) {
    problems.push(`${at(error.pos[0])}: ${firstLine(error.message)}`);
  }
  if (problems.length > 0) throw configError(shown, problems);

  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw configError(shown, [`${at(0)}: the file must be a mapping of keys (e.g. "postgres:"), not ${describeValue(raw)}`]);
  }

  const locate = (keyPath: ConfigPath, part: 'key' | 'value' = 'value'): string =>
    at(offsetOf(doc, keyPath, part));

  problems.push(...literalSecrets(doc, at));
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(...describeIssue(issue, raw, locate));
  }
  if (problems.length > 0) throw configError(shown, sortByLocation(problems));
  return { config: result.data!, file, locate };
}

function configError(shown: string, problems: readonly string[]): DriftGuardError {
  if (problems.length === 1) return new DriftGuardError('CONFIG_INVALID', problems[0]!);
  return new DriftGuardError('CONFIG_INVALID', `${shown} has ${problems.length} errors:`, { details: problems });
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, locate: (p: ConfigPath, part?: 'key' | 'value') => string): string[] {
  const where = issue.path.map(String);
  const name = where.length > 0 ? where.join('.') : 'the file';
  const value = valueAt(raw, issue.path as ConfigPath);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const known = knownKeysAt(issue.path as ConfigPath);
        const inside = where.length > 0 ? ` in ${name}` : '';
        return `${locate([...(issue.path as ConfigPath), key], 'key')}: unknown key "${key}"${inside}; ${unknownKeyHint(key, known)}`;
      });
    case 'invalid_type': {
      const expected = issue.expected === 'int' || issue.expected === 'number' ? 'a whole number' : `a ${issue.expected}`;
      if (value === undefined) return [`${locate(issue.path as ConfigPath, 'key')}: ${name} is required (${expected})`];
      return [`${locate(issue.path as ConfigPath)}: ${name} must be ${expected}, got ${describeValue(value)}`];
    }
    case 'invalid_value': {
      const options = issue.values.map(String);
      const suggestion = typeof value === 'string' ? closestMatch(value, options) : undefined;
      const hint = suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
      return [`${locate(issue.path as ConfigPath)}: ${name} must be one of ${options.join(', ')}, got ${describeValue(value)}${hint}`];
    }
    case 'too_small':
      return [`${locate(issue.path as ConfigPath)}: ${name} must be at least ${String(issue.minimum)}, got ${describeValue(value)}`];
    case 'too_big':
      return [`${locate(issue.path as ConfigPath)}: ${name} must be at most ${String(issue.maximum)}, got ${describeValue(value)}`];
    default:
      return [`${locate(issue.path as ConfigPath)}: ${name} ${issue.message}`];
  }
}

function unknownKeyHint(key: string, known: readonly string[]): string {
  if (/(^|-)(url|password|connection-string|dsn)$/i.test(key) && known.some((k) => k.endsWith('-env'))) {
    const envKey = known.find((k) => k.endsWith('-env'))!;
    return `secrets are never written in the file: put the value in an environment variable and name it with "${envKey}"`;
  }
  const suggestion = closestMatch(key, known);
  if (suggestion !== undefined) return `did you mean "${suggestion}"?`;
  return known.length > 0 ? `valid keys: ${known.join(', ')}` : 'remove it';
}

/** Flags connection strings with a password written literally anywhere in the file. */
function literalSecrets(doc: Document, at: (offset: number) => string): string[] {
  const found: string[] = [];
  const visit = (node: unknown): void => {
    if (isMap(node)) {
      for (const pair of node.items) visit(pair.value);
    } else if (isScalar(node) && typeof node.value === 'string') {
      if (/:\/\/[^\s/@:]*:[^\s/@]+@/.test(node.value) || /(^|\s)password\s*=/i.test(node.value)) {
        found.push(
          `${at(node.range?.[0] ?? 0)}: a connection string with a password is written in the file; move it to an environment variable and reference it with a "-env" key (e.g. url-env: PROD_DATABASE_URL)`,
        );
      }
    } else if (node !== null && typeof node === 'object' && 'items' in node) {
      for (const item of (node as { items: unknown[] }).items) visit(item);
    }
  };
  visit(doc.contents);
  return found;
}

/** Keys the schema accepts at a given object path (for suggestions). */
function knownKeysAt(keyPath: ConfigPath): string[] {
  let schema: unknown = configSchema;
  for (const segment of keyPath) {
    schema = unwrap(schema);
    const shape = (schema as { shape?: Record<string, unknown> }).shape;
    if (shape === undefined || typeof segment !== 'string') return [];
    schema = shape[segment];
  }
  const shape = (unwrap(schema) as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape === undefined ? [] : Object.keys(shape);
}

function unwrap(schema: unknown): unknown {
  let current = schema as { def?: { type?: string; innerType?: unknown } } | undefined;
  while (current?.def !== undefined && ['default', 'optional', 'prefault', 'nullable'].includes(current.def.type ?? '')) {
    current = current.def.innerType as typeof current;
  }
  return current;
}

function offsetOf(doc: Document, keyPath: ConfigPath, part: 'key' | 'value'): number {
  // Walk down as far as the document goes; a missing key is reported at its closest existing parent.
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  for (let i = 0; i < keyPath.length; i++) {
    if (!isMap(node)) break;
    const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(keyPath[i]));
    if (pair === undefined) break;
    const last = i === keyPath.length - 1;
    const keyNode = pair.key as YamlNode;
    const valueNode = pair.value as YamlNode | null;
    if (last && part === 'key') return keyNode.range?.[0] ?? offset;
    offset = valueNode?.range?.[0] ?? keyNode.range?.[0] ?? offset;
    node = valueNode;
  }
  return offset;
}

/** The value at a key path of a parsed object, or undefined. */
export function valueAt(raw: unknown, keyPath: ConfigPath): unknown {
  let current = raw;
  for (const segment of keyPath) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

function sortByLocation(problems: readonly string[]): string[] {
  const key = (line: string): [number, number] => {
    const match = /:(\d+):(\d+): /.exec(line);
    return match === null ? [0, 0] : [Number(match[1]), Number(match[2])];
  };
  return [...problems].sort((a, b) => {
    const [la, ca] = key(a);
    const [lb, cb] = key(b);
    return la - lb || ca - cb;
  });
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

export function displayPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
