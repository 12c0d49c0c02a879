// Runs one migration script: in a transaction with its history row when it can, statement by
// statement outside one when it must, and turns a PostgreSQL error into a finding that points at
// the file, line and column.

import type pg from 'pg';
import type { Finding } from '../../report/finding.js';
import type { MigrationScript } from './layout.js';
import { lineAndColumn, parseScript, type SqlStatement } from './sql-script.js';

export interface ExecutionPlan {
  readonly statements: readonly SqlStatement[];
  /** Why the script runs outside a transaction, or undefined when it runs inside one. */
  readonly outsideTransaction: string | undefined;
  /** Set when the parser rejected the script: it is sent to the server whole, which decides. */
  readonly unparsed?: { readonly message: string; readonly offset: number } | undefined;
}

export function planScript(script: MigrationScript): ExecutionPlan {
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

export class StatementError extends Error {
  constructor(
    readonly finding: Finding,
    /** How many statements of the script had completed before this one failed. */
    readonly completed: number,
  ) {
    super(finding.message);
  }
}

/** Runs the statements in order; a failure becomes a StatementError carrying an APPLY_FAILED finding. */
export async function runStatements(client: pg.Client, script: MigrationScript, plan: ExecutionPlan): Promise<void> {
  for (const [index, statement] of plan.statements.entries()) {
    try {
      await client.query(statement.text);
    } catch (error) {
      throw new StatementError(applyFailure(script, statement, error), index);
    }
  }
}

interface PgError {
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
  // position is 1-based, in characters of the statement we sent; inside a function body there is
  // only an internal position, so the statement's own start is the best place to point at.
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
