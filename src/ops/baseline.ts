// `drift-guard baseline`: adopts a database that has the schema but no migration history (made by
// EnsureCreated, by hand, or by another tool). Its schema must equal what the migrations up to the
// chosen one produce in a scratch database; only then are the history rows written, in one
// transaction, as the engine's tool writes them. A mismatch refuses, showing the differences.

import { createEngine } from '../engines/create-engine.js';
import { DriftGuardError } from '../errors.js';
import { introspectUrl } from '../introspect/introspect.js';
import { withScratchDatabase } from '../postgres/scratch.js';
import { hasErrors } from '../report/finding.js';
import { diffSchemas, type Change } from '../schema/diff.js';
import { modelOptions } from '../schema/sources.js';
import type { ProductionRun } from './production.js';

export interface BaselineOptions extends ProductionRun {
  /** The newest migration the database already has (default: the last one). */
  readonly to?: string | undefined;
  readonly confirm: (question: string) => Promise<boolean>;
}

export interface BaselineResult {
  readonly outcome: 'recorded' | 'refused' | 'not-confirmed';
  readonly database: string;
  readonly to: string;
  readonly recorded: readonly string[];
  /** From what the migrations produce to the database, when they differ. */
  readonly differences: readonly Change[];
}

export async function runBaseline(options: BaselineOptions): Promise<BaselineResult> {
  const { loaded, cwd, reporter, production } = options;
  const engine = createEngine({ loaded, cwd, env: options.env, reporter, postgres: options.postgres });
  if (engine.baseline === undefined || !engine.capabilities.history) throw new DriftGuardError('USAGE', `engine: ${engine.name} keeps its own history; baseline with your tool`);
  const status = await engine.status({ databaseUrl: production.url, reporter });
  const recorded = status.statuses.filter((s) => s.kind === 'versioned' && s.state !== 'pending' && s.state !== 'out-of-order');
  if (recorded.length > 0) {
    throw new DriftGuardError('USAGE', `${production.display} already has a migration history (${recorded.length} recorded, newest ${recorded.at(-1)!.version}); baseline is for a database without one`);
  }
  const versions = status.statuses.filter((s) => s.kind === 'versioned').map((s) => s.version);
  const to = options.to ?? versions.at(-1);
  if (to === undefined) throw new DriftGuardError('USAGE', `there are no migrations in ${engine.location} to record`);
  if (!versions.includes(to)) throw new DriftGuardError('USAGE', `no migration ${to} in ${engine.location} (the migrations are ${versions.join(', ')})`);

  const ignore = modelOptions(loaded);
  const expected = await reporter.step(`apply the migrations up to ${to} to a scratch database`, () =>
    withScratchDatabase(options.postgres, async (db) => {
      const outcome = await engine.migrate({ databaseUrl: db.url, reporter }, { target: to });
      if (!outcome.ok || hasErrors(outcome.findings)) throw new DriftGuardError('USAGE', `the migrations up to ${to} do not apply to an empty database: ${outcome.findings.find((f) => f.severity === 'error')?.message ?? 'unknown error'}`);
      return introspectUrl(db.url, ignore);
    }),
  );
  const differences = diffSchemas(expected, await introspectUrl(production.url, ignore)).changes;
  if (differences.length > 0) return { outcome: 'refused', database: production.display, to, recorded: [], differences };
  if (!(await options.confirm(`${production.display} has exactly the schema of the migrations up to ${to}. Record them as applied? Type YES to go on: `))) {
    return { outcome: 'not-confirmed', database: production.display, to, recorded: [], differences };
  }
  const written = await engine.baseline({ databaseUrl: production.url, reporter }, { target: to });
  return { outcome: 'recorded', database: production.display, to, recorded: written, differences };
}
