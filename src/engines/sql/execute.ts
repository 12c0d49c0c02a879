// Runs one migration script: in a transaction with its history row when it can, statement by
// statement outside one when it must, and turns a PostgreSQL error into a finding that points at
// the file, line and column.

import type pg from 'pg';
import { corked } from '../../postgres/client.js';
import type { Finding } from '../../report/finding.js';
import type { HistoryWrite, MigrationScript } from './layout.js';
import { lineAndColumn, loadParser, parseScript, topLevelText, type SqlStatement } from './sql-script.js';

export interface ExecutionPlan {
  readonly statements: readonly SqlStatement[];
  /** Why the script runs outside a transaction, or undefined when it runs inside one. */
  readonly outsideTransaction: string | undefined;
  /** Set when the parser rejected the script: it is sent to the server whole, which decides. */
  readonly unparsed?: { readonly message: string; readonly offset: number } | undefined;
}

/**
 * Words without which a script cannot hold a statement that refuses a transaction block or
 * controls transactions. A script with none of them outside its comments, literals and
 * dollar-quoted bodies (where a function's or DO block's BEGIN and END are) is sent whole without
 * being parsed (it is parsed only if it fails, to point at the failing statement): parsing, and
 * loading the parser, are most of drift-guard's own time on a long migration run.
 */
const NEEDS_PARSING = /\b(?:concurrently|vacuum|database|tablespace|system|subscription|cluster|reindex|begin|commit|rollback|abort|savepoint|release|start|end|prepare)\b/i;

/** Whether planScript() must parse the script (then call loadParser() first). */
export function needsParsing(script: MigrationScript): boolean {
  if (!script.transaction) return true;
  if (!NEEDS_PARSING.test(script.sql)) return false;
  const words = topLevelText(script.sql);
  return words === undefined || NEEDS_PARSING.test(words);
}

/** How a script runs; parses it only when needsParsing() says so (the parser must be loaded then). */
export function planScript(script: MigrationScript): ExecutionPlan {
  if (!needsParsing(script)) {
    let statements: readonly SqlStatement[] | undefined;
    return {
      outsideTransaction: undefined,
      get statements() {
        if (statements === undefined) {
          const parsed = parseScript(script.sql);
          statements = parsed.ok ? parsed.statements : [{ text: script.sql, offset: 0, kind: 'Unparsed', transactionControl: false }];
        }
        return statements;
      },
    };
  }
  const parsed = parseScript(script.sql);
  if (!parsed.ok) {
    const statement: SqlStatement = { text: script.sql, offset: 0, kind: 'Unparsed', transactionControl: false };
    return { statements: [statement], outsideTransaction: script.transaction ? undefined : 'the file opts out of a transaction', unparsed: parsed };
  }
  if (!script.transaction) return { statements: parsed.statements, outsideTransaction: 'the file opts out of a transaction' };
  const blocker = parsed.statements.find((s) => s.nonTransactional !== undefined || s.transactionControl);
  if (blocker === undefined) return { statements: parsed.statements, outsideTransaction: undefined };
  const { line } = lineAndColumn(script.fileText, script.sqlOffset + blocker.offset);
  const what = blocker.transactionControl ? 'it manages its own transactions' : `${blocker.nonTransactional!} cannot run in a transaction`;
  return { statements: parsed.statements, outsideTransaction: `${what} (line ${line})` };
}

/**
 * For tools that send a whole file as one query: a statement that refuses a transaction block fails
 * there unless it is alone in its file, even though drift-guard could run the file statement by
 * statement. Fidelity first: the migration fails here as it would in production.
 */
export function wholeFileRefusal(script: MigrationScript, plan: ExecutionPlan, tool: string): Finding | undefined {
  // Only a file with such a statement runs outside drift-guard's transaction; others are never parsed for this.
  if (plan.outsideTransaction === undefined || plan.statements.length < 2) return undefined;
  const blocker = plan.statements.find((s) => s.nonTransactional !== undefined);
  if (blocker === undefined) return undefined;
  const { line, column, lineText } = lineAndColumn(script.fileText, script.sqlOffset + blocker.offset);
  return {
    check: 'apply',
    code: 'APPLY_FAILED',
    severity: 'error',
    message: `${blocker.nonTransactional!} cannot run inside a transaction block, and ${tool} sends the whole file as one query, which PostgreSQL runs as one transaction; put it in a migration file of its own (or enable ${tool === 'golang-migrate' ? 'x-multi-statement in the database URL' : "the tool's multi-statement mode"})`,
    file: script.file,
    line,
    column,
    details: { lineText },
  };
}

export class StatementError extends Error {
  constructor(
    readonly finding: Finding,
    /** How many statements of the script had completed before this one failed. */
    readonly completed: number,
  ) {
    super(finding.message);
  }
}

/**
 * The session setting through which migrations sent one behind the other wait for each other.
 * Each migration's transaction first checks that it holds the mark of the migration ahead of it,
 * then sets its own. A setting changed in a transaction that rolls back is rolled back too, so
 * the check fails, and nothing of the migration runs, exactly when the one ahead did not commit.
 */
const CHAIN_SETTING = 'drift_guard.committed';

/**
 * The check and the new mark, as one statement. The marks are drift-guard's own (hex digits and
 * numbers, see ChainLink), never text from a file, so they are written into the statement: it then
 * travels in the same simple-protocol query as BEGIN and the script, and a failed check skips the
 * script. current_setting() of a parameter that does not exist raises an error that names it.
 */
function chainStatement(link: ChainLink): string {
  if (!/^[0-9a-f]+:[0-9]+$/.test(link.mark) || (link.after !== undefined && !/^[0-9a-f]+:[0-9]+$/.test(link.after))) throw new Error(`not a chain mark: ${link.mark}`);
  const set = `pg_catalog.set_config('${CHAIN_SETTING}', '${link.mark}', false)`;
  if (link.after === undefined) return `SELECT ${set}`;
  return `SELECT CASE WHEN pg_catalog.current_setting('${CHAIN_SETTING}', true) = '${link.after}' THEN ${set} ELSE pg_catalog.current_setting('drift_guard.the_migration_before_this_one_did_not_commit') END`;
}

/** Where a migration sits in a chain of migrations sent without waiting for each other. */
export interface ChainLink {
  /** The mark of the migration ahead in the chain: this one runs only if that one committed. */
  readonly after?: string | undefined;
  /** This migration's mark, unique in the session: "<hex>:<number>". */
  readonly mark: string;
}

export type SentOutcome =
  | { readonly ok: true }
  /** The migration ahead in the chain did not commit: nothing of this one ran. */
  | { readonly ok: false; readonly stage: 'skipped'; readonly error: unknown }
  | { readonly ok: false; readonly stage: 'script'; readonly error: PgError; readonly prefixLength: number }
  /** The script ran; a history write or the COMMIT failed (a deferred constraint, say). Nothing stayed. */
  | { readonly ok: false; readonly stage: 'history' | 'commit'; readonly error: unknown };

/**
 * Sends a migration in one transaction with its history writes, and returns its outcome. On a
 * pipelined client (ClientOptions.pipeline) it leaves in one write, and the server runs it without
 * waiting for drift-guard: BEGIN, the chain's check and mark, and the script as one
 * simple-protocol query (one statement failing skips the rest; PostgreSQL's error position points
 * into it), the history writes, COMMIT. When anything fails, the server refuses the rest of the
 * transaction and answers COMMIT with ROLLBACK, so nothing of the migration stays, and the
 * migrations behind it in the chain fail their check. The queries leave before this returns, so
 * the caller can send the next migration while this one runs.
 */
export function sendInTransaction(client: pg.Client, script: MigrationScript, writes: readonly HistoryWrite[], link: ChainLink): Promise<SentOutcome> {
  // BEGIN on its own: PostgreSQL parses a simple query whole before running any of it, so a syntax
  // error in the script must find the transaction already open (and abort it), or the history
  // writes behind it would run and commit on their own.
  const prefix = `${chainStatement(link)};\n`;
  const sent = corked(client, () => ({
    begin: client.query('BEGIN'),
    script: client.query(prefix + script.sql),
    writes: writes.map((w) => client.query(historyQuery(client, w))),
    commit: client.query('COMMIT'),
  }));
  const failure = (promise: Promise<unknown>): Promise<{ error: unknown } | undefined> =>
    promise.then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
  return Promise.all([failure(sent.begin), failure(sent.script), Promise.all(sent.writes.map(failure)), sent.commit.then((r) => r, (error: unknown) => ({ error }))]).then(
    ([begin, ran, writeFailures, committed]): SentOutcome => {
      if (begin !== undefined) return { ok: false, stage: 'history', error: begin.error };
      if (ran !== undefined) {
        const error = ran.error as PgError;
        // The error is in the check, before the script: the migration ahead did not commit.
        if (error.position !== undefined && Number(error.position) <= prefix.length) return { ok: false, stage: 'skipped', error };
        if (error.message.includes('drift_guard.the_migration_before_this_one_did_not_commit')) return { ok: false, stage: 'skipped', error };
        return { ok: false, stage: 'script', error, prefixLength: prefix.length };
      }
      const write = writeFailures.find((w) => w !== undefined);
      if (write !== undefined) return { ok: false, stage: 'history', error: write.error };
      if ('error' in committed) return { ok: false, stage: 'commit', error: committed.error };
      // A COMMIT of an aborted transaction succeeds with the command tag ROLLBACK.
      if (committed.command !== 'COMMIT') return { ok: false, stage: 'commit', error: new Error('the server rolled the transaction back at COMMIT') };
      return { ok: true };
    },
  );
}

/**
 * The finding for a script that failed in its transaction. PostgreSQL's error position points
 * into the script; an error without a position (a constraint violation, say) is located by
 * replaying the statements one by one in a transaction that is rolled back, which costs nothing on
 * the path that succeeds. Call it when nothing else is on the wire.
 */
export async function scriptFailure(client: pg.Client, script: MigrationScript, plan: ExecutionPlan, error: PgError, prefixLength: number): Promise<Finding> {
  // The server ended the transaction at its COMMIT; this makes sure whatever was sent.
  await client.query('ROLLBACK').catch(() => undefined);
  return locateFailure(client, script, plan, error, prefixLength);
}

/** Runs history writes one after the other, each committed on its own (outside a transaction). */
export async function runWrites(client: pg.Client, writes: readonly HistoryWrite[]): Promise<void> {
  for (const write of writes) await client.query(historyQuery(client, write));
}

/** Statement names by text, the same in every session (the client prepares a name once per connection). */
const statementNames = new Map<string, string>();
/** Sessions whose history writes are no longer prepared: a script there may have deallocated them. */
const unprepared = new WeakSet<pg.Client>();
const DROPS_PREPARED = /\b(?:deallocate|discard)\b/i;

/**
 * Call before a script is sent on a session: after one that may drop the session's prepared
 * statements (DEALLOCATE, DISCARD), the session's history writes go unprepared, so that none
 * names a statement that no longer exists. What is already on the wire ran before that script.
 */
export function beforeScript(client: pg.Client, script: MigrationScript): void {
  if (DROPS_PREPARED.test(script.sql)) unprepared.add(client);
}

/**
 * A history write as a named prepared statement: the server parses and plans it once per session
 * instead of once per migration (Flyway's installed_rank subquery took a quarter of a millisecond
 * to plan, a fifth of `migrate`'s time on a 1,000-migration history). Prepared statements outlive
 * a rolled-back transaction, and the server re-plans one whose tables or search_path changed.
 */
function historyQuery(client: pg.Client, write: HistoryWrite): pg.QueryConfig {
  if (write.values === undefined || unprepared.has(client)) return write.values === undefined ? { text: write.text } : { text: write.text, values: write.values as unknown[] };
  let name = statementNames.get(write.text);
  if (name === undefined) {
    name = `drift_guard_history_${statementNames.size + 1}`;
    statementNames.set(write.text, name);
  }
  return { name, text: write.text, values: write.values as unknown[] };
}

async function locateFailure(client: pg.Client, script: MigrationScript, plan: ExecutionPlan, error: PgError, prefixLength: number): Promise<Finding> {
  const whole: SqlStatement = { text: script.sql, offset: 0, kind: 'Script', transactionControl: false };
  if (error.position !== undefined) {
    return applyFailure(script, whole, withPosition(error, String(Math.max(1, Number(error.position) - prefixLength))));
  }
  await loadParser(); // the replay needs the statements, which a script sent whole was never split into
  try {
    await client.query('BEGIN');
    for (const statement of plan.statements) {
      try {
        await client.query(statement.text);
      } catch (replayed) {
        return applyFailure(script, statement, replayed);
      }
    }
  } catch {
    // The replay is only a diagnosis; fall through to the statement-less report.
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
  return applyFailure(script, plan.statements[0] ?? whole, withPosition(error, undefined));
}

/** A copy of a driver error with another position (an Error's message does not survive a spread). */
function withPosition(error: PgError, position: string | undefined): PgError {
  const { code, detail, hint, where, internalQuery, internalPosition } = error;
  return { message: error.message, code, detail, hint, where, internalQuery, internalPosition, position };
}

/** Runs the statements one by one (outside a transaction); a failure becomes a StatementError carrying an APPLY_FAILED finding. */
export async function runStatements(client: pg.Client, script: MigrationScript, plan: ExecutionPlan): Promise<void> {
  for (const [index, statement] of plan.statements.entries()) {
    try {
      await client.query(statement.text);
    } catch (error) {
      throw new StatementError(applyFailure(script, statement, error), index);
    }
  }
}

export interface PgError {
  message: string;
  code?: string;
  position?: string;
  detail?: string;
  hint?: string;
  where?: string;
  internalQuery?: string;
  internalPosition?: string;
}

export function applyFailure(script: MigrationScript, statement: SqlStatement, error: unknown): Finding {
  const pgError = error as PgError;
  // position is 1-based, in characters of the query we sent; inside a function body there is only
  // an internal position, so the statement's own start is the best place to point at.
  const position = pgError.position === undefined ? 0 : Number(pgError.position) - 1;
  const offset = script.sqlOffset + statement.offset + Math.max(0, position);
  const { line, column, lineText } = lineAndColumn(script.fileText, offset);
  return {
    check: 'apply',
    code: 'APPLY_FAILED',
    severity: 'error',
    message: pgError.message,
    file: script.file,
    line,
    column,
    details: {
      lineText,
      ...(pgError.code === undefined ? {} : { sqlstate: pgError.code }),
      ...(pgError.detail === undefined ? {} : { detail: pgError.detail }),
      ...(pgError.hint === undefined ? {} : { hint: pgError.hint }),
      ...(pgError.where === undefined ? {} : { where: pgError.where }),
    },
  };
}

/**
 * For a script that failed without an error position: replays its statements one by one in a
 * transaction that is rolled back, and returns the failing statement's offset in the script and
 * the error it raises (with its position inside the statement, when PostgreSQL gives one).
 */
export async function findFailingStatement(client: pg.Client, sql: string): Promise<{ offset: number; error: PgError } | undefined> {
  await loadParser();
  const parsed = parseScript(sql);
  if (!parsed.ok) return { offset: parsed.offset, error: { message: parsed.message } };
  try {
    await client.query('BEGIN');
    for (const statement of parsed.statements) {
      try {
        await client.query(statement.text);
      } catch (error) {
        const position = (error as PgError).position;
        return { offset: statement.offset + (position === undefined ? 0 : Number(position) - 1), error: error as PgError };
      }
    }
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
  return undefined;
}
