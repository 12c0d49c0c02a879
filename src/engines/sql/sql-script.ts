// Splits a migration script into statements with the real PostgreSQL parser (libpg-query), keeps
// each statement's place in the file for error reports, and tells which statements PostgreSQL
// refuses inside a transaction block.


export interface SqlStatement {
  /** The statement's text exactly as in the file (no trailing semicolon). */
  readonly text: string;
  /** Character offset of the statement in the script. */
  readonly offset: number;
  /** The parse tree node type, e.g. "CreateStmt". */
  readonly kind: string;
  /** Why PostgreSQL refuses this statement inside a transaction block, if it does. */
  readonly nonTransactional?: string;
  /** BEGIN, COMMIT, ROLLBACK, SAVEPOINT...: the script manages its own transactions. */
  readonly transactionControl: boolean;
  /** The statement's parse tree node (the value under `kind`), for static analysis. */
  readonly node?: Record<string, unknown>;
}

export type ParsedScript =
  | { readonly ok: true; readonly statements: readonly SqlStatement[] }
  | { readonly ok: false; readonly message: string; /** character offset */ readonly offset: number };

let loaded: Promise<void> | undefined;
let parseSync: ((sql: string) => unknown) | undefined;

/** Loads the parser (WebAssembly) once per process, on first use: commands that parse no SQL never pay for it. */
export function loadParser(): Promise<void> {
  return (loaded ??= import('libpg-query').then(async (parser) => {
    await parser.loadModule();
    parseSync = parser.parseSync;
  }));
}

/** Parses a script; call loadParser() first. */
export function parseScript(script: string): ParsedScript {
  let result: { stmts?: { stmt_location?: number; stmt_len?: number; stmt: Record<string, unknown> }[] };
  if (parseSync === undefined) throw new Error('parseScript() before loadParser()');
  const offsets = byteToCharOffsets(script);
  try {
    result = parseSync(script) as typeof result;
  } catch (error) {
    const cursor = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition ?? 0;
    return { ok: false, message: (error as Error).message, offset: offsets(Math.max(0, cursor)) };
  }
  const bytes = Buffer.byteLength(script);
  const statements: SqlStatement[] = [];
  for (const raw of result.stmts ?? []) {
    const startByte = raw.stmt_location ?? 0;
    const endByte = raw.stmt_len === undefined || raw.stmt_len === 0 ? bytes : startByte + raw.stmt_len;
    const start = offsets(startByte);
    const end = offsets(endByte);
    // libpg_query's location includes whitespace and comments before the statement; skip them so
    // that the reported line is the statement's own.
    const leading = leadingTriviaLength(script.slice(start, end));
    const text = script.slice(start + leading, end).replace(/;\s*$/, '').trimEnd();
    if (text === '') continue;
    const [kind, node] = Object.entries(raw.stmt)[0] ?? ['Unknown', {}];
    const nonTransactional = nonTransactionalReason(kind, node as Record<string, unknown>);
    statements.push({
      text,
      offset: start + leading,
      kind,
      transactionControl: kind === 'TransactionStmt',
      node: node as Record<string, unknown>,
      ...(nonTransactional === undefined ? {} : { nonTransactional }),
    });
  }
  return { ok: true, statements };
}

/** The reason a statement cannot run inside a transaction block, per PostgreSQL's PreventInTransactionBlock callers. */
export function nonTransactionalReason(kind: string, node: Record<string, unknown>): string | undefined {
  const concurrent = node.concurrent === true;
  switch (kind) {
    case 'IndexStmt':
      return concurrent ? 'CREATE INDEX CONCURRENTLY' : undefined;
    case 'DropStmt':
      return concurrent ? 'DROP INDEX CONCURRENTLY' : undefined;
    case 'ReindexStmt': {
      const params = (node.params as { DefElem?: { defname?: string } }[] | undefined) ?? [];
      if (params.some((p) => p.DefElem?.defname === 'concurrently')) return 'REINDEX CONCURRENTLY';
      return node.kind === 'REINDEX_OBJECT_DATABASE' || node.kind === 'REINDEX_OBJECT_SYSTEM' ? 'REINDEX DATABASE/SYSTEM' : undefined;
    }
    case 'VacuumStmt':
      return node.is_vacuumcmd === true ? 'VACUUM' : undefined;
    case 'CreatedbStmt':
      return 'CREATE DATABASE';
    case 'DropdbStmt':
      return 'DROP DATABASE';
    case 'CreateTableSpaceStmt':
      return 'CREATE TABLESPACE';
    case 'DropTableSpaceStmt':
      return 'DROP TABLESPACE';
    case 'AlterSystemStmt':
      return 'ALTER SYSTEM';
    case 'ClusterStmt':
      return node.relation === undefined ? 'CLUSTER without a table' : undefined;
    case 'CreateSubscriptionStmt':
      return 'CREATE SUBSCRIPTION';
    case 'DropSubscriptionStmt':
      return 'DROP SUBSCRIPTION';
    case 'AlterTableStmt': {
      const cmds = (node.cmds as { AlterTableCmd?: { subtype?: string; def?: { PartitionCmd?: { concurrent?: boolean } } } }[] | undefined) ?? [];
      return cmds.some((c) => c.AlterTableCmd?.subtype === 'AT_DetachPartition' && c.AlterTableCmd.def?.PartitionCmd?.concurrent === true)
        ? 'DETACH PARTITION CONCURRENTLY'
        : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The script with its comments, string literals, quoted identifiers and dollar-quoted bodies
 * (function bodies, DO blocks) blanked out: what is left is the words PostgreSQL reads as
 * statements. Undefined when the script has something this scan does not follow exactly (an
 * unterminated literal or comment, a backslash in a string, whose meaning depends on the string's
 * kind and standard_conforming_strings): callers then treat the script as if every word were at the
 * top level. A scan, not a parse: it runs on every file of a history, where parsing is most of the
 * client's time.
 */
export function topLevelText(sql: string): string | undefined {
  let out = '';
  let from = 0;
  let i = 0;
  const n = sql.length;
  const blank = (start: number, end: number): void => {
    out += `${sql.slice(from, start)} `;
    from = end;
  };
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 0x2d /* - */ && sql.charCodeAt(i + 1) === 0x2d) {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === 0x2f /* / */ && sql.charCodeAt(i + 1) === 0x2a /* * */) {
      // Block comments nest.
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql.charCodeAt(j) === 0x2f && sql.charCodeAt(j + 1) === 0x2a) (depth += 1), (j += 2);
        else if (sql.charCodeAt(j) === 0x2a && sql.charCodeAt(j + 1) === 0x2f) (depth -= 1), (j += 2);
        else j += 1;
      }
      if (depth > 0) return undefined;
      blank(i, j);
      i = j;
    } else if (c === 0x27 /* ' */ || c === 0x22 /* " */) {
      // '' and "" inside are escaped quotes: the scan just sees two literals back to back.
      const end = sql.indexOf(sql[i]!, i + 1);
      if (end === -1) return undefined;
      if (c === 0x27 && sql.slice(i, end).includes('\\')) return undefined;
      blank(i, end + 1);
      i = end + 1;
    } else if (c === 0x24 /* $ */ && !isIdentifierChar(sql.charCodeAt(i - 1))) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 66))?.[0];
      if (tag === undefined) {
        i += 1; // $1, a parameter
        continue;
      }
      const end = sql.indexOf(tag, i + tag.length);
      if (end === -1) return undefined;
      blank(i, end + tag.length);
      i = end + tag.length;
    } else if (isIdentifierChar(c)) {
      // A whole word at once, so that a "$" inside an identifier (a$b) is not a dollar quote.
      let j = i + 1;
      while (j < n && isIdentifierChar(sql.charCodeAt(j))) j += 1;
      i = j;
    } else i += 1;
  }
  return out + sql.slice(from);
}

function isIdentifierChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

/** Maps UTF-8 byte offsets (what libpg_query reports) to string (UTF-16) offsets. */
function byteToCharOffsets(script: string): (byteOffset: number) => number {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(script)) return (byteOffset) => Math.min(byteOffset, script.length);
  const buffer = Buffer.from(script);
  return (byteOffset) => buffer.subarray(0, Math.min(byteOffset, buffer.length)).toString('utf8').length;
}

function leadingTriviaLength(text: string): number {
  const match = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/.exec(text);
  return match?.[0].length ?? 0;
}

/** 1-based line and column of a character offset, and the text of that line. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number; lineText: string } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = text.indexOf('\n', offset);
  return { line, column: offset - lineStart + 1, lineText: text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).replace(/\r$/, '') };
}
