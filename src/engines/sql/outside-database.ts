// Statements that reach outside the database: they run programs, read or write files on the
// database server's machine, or open connections to other servers. In a scratch database that
// machine is the one running the gate (a CI runner, a developer's laptop), and the SQL comes from a
// pull request. Pure: the real PostgreSQL parser's tree, no I/O. Call loadParser() first.
//
// What the parse tree cannot see: SQL built at run time (EXECUTE format(...)) inside PL/pgSQL.
// Function and DO bodies are scanned for the same calls as text, which catches the plain cases.

import { parseScript } from './sql-script.js';

export interface OutsideDatabaseStatement {
  /** Character offset of the statement in the script (see lineAndColumn()). */
  readonly offset: number;
  /** What it does, in a few words: "COPY ... TO PROGRAM", "lo_import() reads a server file". */
  readonly what: string;
}

/** Languages whose functions run with the server account's full access to the machine. */
export const UNTRUSTED_LANGUAGES: ReadonlySet<string> = new Set(['c', 'internal', 'plperlu', 'plpythonu', 'plpython2u', 'plpython3u', 'pltclu', 'plsh', 'plr', 'plv8u', 'pljavau']);

/** Extensions whose purpose is to reach outside the database. */
const OUTSIDE_EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ['dblink', 'connections to other servers'],
  ['postgres_fdw', 'connections to other servers'],
  ['file_fdw', 'reads server files'],
  ['adminpack', 'writes server files'],
  ...[...UNTRUSTED_LANGUAGES].filter((l) => l.startsWith('pl')).map((l) => [l, 'an untrusted language'] as [string, string]),
]);

/** Functions that read or write server files, list server directories, or connect elsewhere. */
const OUTSIDE_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['lo_import', 'reads a server file'],
  ['lo_export', 'writes a server file'],
  ['pg_read_file', 'reads a server file'],
  ['pg_read_binary_file', 'reads a server file'],
  ['pg_stat_file', 'reads server file metadata'],
  ['pg_ls_dir', 'lists a server directory'],
  ['pg_ls_logdir', 'lists a server directory'],
  ['pg_ls_waldir', 'lists a server directory'],
  ['pg_ls_tmpdir', 'lists a server directory'],
  ['pg_ls_archive_statusdir', 'lists a server directory'],
  ['pg_ls_logicalsnapdir', 'lists a server directory'],
  ['pg_ls_logicalmapdir', 'lists a server directory'],
  ['pg_ls_replslotdir', 'lists a server directory'],
  ['pg_file_write', 'writes a server file'],
  ['pg_file_rename', 'renames a server file'],
  ['pg_file_unlink', 'deletes a server file'],
  ['pg_file_sync', 'touches a server file'],
  ['pg_logdir_ls', 'lists a server directory'],
]);

function functionEffect(name: string): string | undefined {
  const known = OUTSIDE_FUNCTIONS.get(name);
  if (known !== undefined) return known;
  if (name.startsWith('dblink')) return 'connects to another server';
  return undefined;
}

export function outsideDatabaseStatements(sql: string): OutsideDatabaseStatement[] {
  const parsed = parseScript(sql);
  if (!parsed.ok) return []; // A script that does not parse fails to apply, with its own finding.
  const found: OutsideDatabaseStatement[] = [];
  for (const statement of parsed.statements) {
    const seen = new Set<string>();
    const add = (what: string): void => {
      if (seen.has(what)) return;
      seen.add(what);
      found.push({ offset: statement.offset, what });
    };
    inspectNode(statement.kind, statement.node ?? {}, add);
    walk(statement.node ?? {}, add);
  }
  return found;
}

/** The statement itself: COPY, ALTER SYSTEM, languages, extensions, foreign servers, function bodies. */
function inspectNode(kind: string, node: Record<string, unknown>, add: (what: string) => void): void {
  switch (kind) {
    case 'CopyStmt': {
      const file = node['filename'];
      if (typeof file !== 'string') return; // STDIN / STDOUT: the client's data, not the server's.
      const direction = node['is_from'] === true ? 'FROM' : 'TO';
      add(node['is_program'] === true ? `COPY ... ${direction} PROGRAM runs a program on the database server` : `COPY ... ${direction} '${file}' ${direction === 'FROM' ? 'reads' : 'writes'} a server file`);
      return;
    }
    case 'AlterSystemStmt':
      add('ALTER SYSTEM changes the server configuration (postgresql.auto.conf)');
      return;
    case 'CreateExtensionStmt': {
      const name = String(node['extname'] ?? '');
      const effect = OUTSIDE_EXTENSIONS.get(name);
      if (effect !== undefined) add(`CREATE EXTENSION ${name}: ${effect}`);
      return;
    }
    case 'CreatePLangStmt': {
      const name = String(node['plname'] ?? '');
      if (UNTRUSTED_LANGUAGES.has(name) || node['pltrusted'] !== true) add(`CREATE LANGUAGE ${name}: an untrusted language`);
      return;
    }
    case 'CreateForeignServerStmt':
      add(`CREATE SERVER ... FOREIGN DATA WRAPPER ${String(node['fdwname'] ?? '')}: connections outside the database`);
      return;
    case 'CreateFdwStmt':
      add(`CREATE FOREIGN DATA WRAPPER ${String(node['fdwname'] ?? '')}: connections outside the database`);
      return;
    case 'CreateFunctionStmt':
    case 'DoStmt': {
      const options = (node[kind === 'DoStmt' ? 'args' : 'options'] as unknown[] | undefined) ?? [];
      const language = (defElem(options, 'language') ?? (kind === 'DoStmt' ? 'plpgsql' : 'sql')).toLowerCase();
      const what = kind === 'DoStmt' ? 'DO block' : 'CREATE FUNCTION';
      if (UNTRUSTED_LANGUAGES.has(language)) add(`${what} in ${language}, an untrusted language`);
      else scanBody(bodyOf(options), add);
      return;
    }
    default:
      return;
  }
}

/** Every function call anywhere in the tree (subqueries, defaults, views, triggers' WHEN...). */
function walk(value: unknown, add: (what: string) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, add);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'FuncCall') {
      const names = ((child as { funcname?: { String?: { sval?: string } }[] }).funcname ?? []).map((n) => n.String?.sval ?? '');
      const name = (names[names.length - 1] ?? '').toLowerCase();
      const effect = functionEffect(name);
      if (effect !== undefined) add(`${name}() ${effect}`);
    }
    walk(child, add);
  }
}

/** A function or DO body, as text. */
function bodyOf(options: unknown[]): string {
  for (const option of options) {
    const def = (option as { DefElem?: { defname?: string; arg?: unknown } }).DefElem;
    if (def?.defname !== 'as') continue;
    const arg = def.arg as { String?: { sval?: string }; List?: { items?: { String?: { sval?: string } }[] } } | undefined;
    if (arg?.String?.sval !== undefined) return arg.String.sval;
    return (arg?.List?.items ?? []).map((item) => item.String?.sval ?? '').join('\n');
  }
  return '';
}

function defElem(options: unknown[], name: string): string | undefined {
  for (const option of options) {
    const def = (option as { DefElem?: { defname?: string; arg?: { String?: { sval?: string } } } }).DefElem;
    if (def?.defname === name) return def.arg?.String?.sval;
  }
  return undefined;
}

/** The calls and COPYs of a body, found in its text (PL/pgSQL is not parsed here). */
function scanBody(body: string, add: (what: string) => void): void {
  if (body === '') return;
  const text = body.toLowerCase();
  for (const match of text.matchAll(/\b([a-z_][a-z0-9_]*)\s*\(/g)) {
    const name = match[1]!;
    const effect = functionEffect(name);
    if (effect !== undefined) add(`${name}() ${effect} (in a function body)`);
  }
  if (/\bcopy\b[^;]*\b(to|from)\s+program\b/.test(text)) add('COPY ... PROGRAM runs a program on the database server (in a function body)');
  else if (/\bcopy\b[^;]*\b(to|from)\s+'/.test(text)) add('COPY with a server file (in a function body)');
  if (/\balter\s+system\b/.test(text)) add('ALTER SYSTEM changes the server configuration (in a function body)');
}
