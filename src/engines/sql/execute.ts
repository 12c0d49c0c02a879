// Runs one migration script: in a transaction with its history row when it can, statement by
// statement outside one when it must, and turns a PostgreSQL error into a finding that points at
// the file, line and column.

import type pg from 'pg';
import type { Finding } from '../../report/finding.js';
import type { MigrationScript } from './layout.js';
import { lineAndColumn, loadParser, parseScript, type SqlStatement } from './sql-script.js';

export interface ExecutionPlan {
  readonly statements: readonly SqlStatement[];
  /** Why the script runs outside a transaction, or undefined when it runs inside one. */
  readonly outsideTransaction: string | undefined;
  /** Set when the parser rejected the script: it is sent to the server whole, which decides. */
  readonly unparsed?: { readonly message: string; readonly offset: number } | undefined;
}

/**
 * Words without which a script cannot hold a statement that refuses a transaction block or
 * controls transactions. A script with none of them is sent whole without being parsed (it is
 * parsed only if it fails, to point at the failing statement): parsing is most of drift-guard's
 * own time on a long migration run.
 */
const NEEDS_PARSING = /\b(?:concurrently|vacuum|database|tablespace|system|subscription|cluster|reindex|begin|commit|rollback|abort|savepoint|release|start|end|prepare)\b/i;

export function planScript(script: MigrationScript): ExecutionPlan {
  if (script.transaction && !NEEDS_PARSING.test(script.sql)) {
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
 * Runs a migration in one transaction with its history row. The script goes to the server as one
 * simple-protocol query (one round trip however many statements it has); PostgreSQL's error
 * position then points into the script itself. An error without a position (a constraint
 * violation, say) is located by replaying the statements one by one in a transaction that is
 * rolled back, which costs nothing on the path that succeeds.
 */
export async function runInTransaction(client: pg.Client, script: MigrationScript, plan: ExecutionPlan, record: () => Promise<void>): Promise<void> {
  const prefix = 'BEGIN;\n';
  try {
    await client.query(prefix + script.sql);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new StatementError(await locateFailure(client, script, plan, error as PgError, prefix.length), 0);
  }
  try {
    await record();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function locateFailure(client: pg.Client, script: MigrationScript, plan: ExecutionPlan, error: PgError, prefixLength: number): Promise<Finding> {
  const whole: SqlStatement = { text: script.sql, offset: 0, kind: 'Script', transactionControl: false };
  if (error.position !== undefined) {
    return applyFailure(script, whole, withPosition(error, String(Math.max(1, Number(error.position) - prefixLength))));
  }
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
