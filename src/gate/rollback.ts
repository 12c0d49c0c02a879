// The rollback check: the PR's migrations rolled back one at a time, newest first, each compared
// with the schema as it was before that migration (the collected facts keep it), then applied
// again and compared with the PR's schema. The first step that fails or leaves something behind
// is the one finding, on that migration's down file, with what is left and how to fix it; later
// steps would only repeat its consequences, so they are not run.

import type { Engine, MigrationSource } from '../engines/engine.js';
import type { CatalogSession } from '../introspect/incremental.js';
import { introspectUrl, type CatalogSnapshot } from '../introspect/introspect.js';
import { hasErrors, type Finding } from '../report/finding.js';
import type { Change } from '../schema/diff.js';
import { diffAcrossRenames } from '../schema/renames.js';
import type { EnumDef, SchemaModel } from '../schema/model.js';
import type { ModelOptions } from '../schema/rows-to-model.js';
import type { Reporter } from '../util/reporter.js';
import type { MigrationFacts } from './facts.js';

export interface RollbackInput {
  readonly engine: Engine;
  readonly url: string;
  readonly facts: readonly MigrationFacts[];
  readonly added: readonly MigrationSource[];
  readonly baseSchema: SchemaModel;
  readonly headSchema: SchemaModel;
  /** The head's catalog rows as read after the last step, and the session on `url` that read them: each read here re-reads only what changed since. */
  readonly head?: { readonly catalog: CatalogSnapshot; readonly session: CatalogSession };
  readonly baseLast: string | undefined;
  readonly ignore: ModelOptions;
  readonly mode: 'auto' | 'always' | 'never';
  readonly reporter: Reporter;
  readonly downHint: (m: MigrationSource) => string;
}

export async function rollbackCheck(input: RollbackInput): Promise<Finding[]> {
  const { engine, url, facts, added, mode } = input;
  const notChecked = (reason: string): Finding[] => [{ check: 'rollback', code: 'NOT_CHECKED', severity: 'notice', message: `rollback not checked: ${reason}` }];
  if (added.length === 0) return [];
  if (mode === 'never') return notChecked('check.rollback is never');
  if (!engine.capabilities.rollback) return notChecked('this engine cannot roll back (set command.rollback to check it)');
  const withoutDown = added.filter((m) => !m.hasDown);
  if (withoutDown.length > 0) {
    const which = withoutDown.map((m) => (m.downEmpty === true ? `${m.label} (its down script${m.downFile === undefined ? '' : ` ${m.downFile}`} is empty: irreversible)` : `${m.label} (add ${input.downHint(m)})`)).join(', ');
    if (mode === 'auto') return notChecked(`${which} ${withoutDown.length === 1 ? 'has' : 'have'} no down migration; check.rollback: always makes this a warning`);
    return [{ check: 'rollback', code: 'ROLLBACK_NOT_CHECKED', severity: 'warning', message: `${which} ${withoutDown.length === 1 ? 'has' : 'have'} no down migration, so this PR cannot be rolled back`, file: withoutDown[0]!.file }];
  }
  const context = { databaseUrl: url, reporter: input.reporter };
  // Steps: one per migration where each was watched, else the whole batch at once.
  const steps = facts.length > 0 && facts.every((f) => f.granularity !== 'batch') ? facts : [];
  const plan =
    steps.length > 0
      ? steps.map((f, i) => ({ source: f.source, target: i === 0 ? (input.baseLast ?? '0') : steps[i - 1]!.source.id, expected: i === 0 ? input.baseSchema : steps[i - 1]!.schemaAfter })).reverse()
      : [{ source: added.at(-1)!, target: input.baseLast ?? '0', expected: input.baseSchema }];
  let since = input.head?.catalog;
  const readSchema = async (): Promise<SchemaModel> => {
    if (input.head === undefined || since === undefined) return introspectUrl(url, input.ignore);
    const read = await input.head.session.read(since, input.ignore);
    since = read.snapshot;
    return read.model;
  };
  for (const step of plan) {
    const down = await engine.rollback(context, { target: step.target });
    const downFile = step.source.downFile ?? step.source.file;
    if (!down.ok || hasErrors(down.findings)) {
      const failure = down.findings.find((f) => f.severity === 'error');
      return [
        {
          check: 'rollback',
          code: 'ROLLBACK_FAILED',
          severity: 'error',
          message: `rolling back ${step.source.label} failed: ${failure?.message ?? 'unknown error'}; fix its down migration`,
          file: failure?.file ?? downFile,
          ...(failure?.line === undefined ? {} : { line: failure.line }),
          ...(failure?.column === undefined ? {} : { column: failure.column }),
          migration: step.source.id,
          evidence: 'measured',
        },
      ];
    }
    const actual = await readSchema();
    // One database throughout: a rename the down migration does not undo is said as one. A table
    // the down migration creates again (the up dropped it) is restored, whatever its new oid.
    const left = diffAcrossRenames(step.expected, actual, { recreated: false }).changes;
    if (left.length > 0) return [incomplete(step.source, downFile, left, step.expected, actual)];
  }
  const up = await engine.migrate(context, {});
  if (!up.ok || hasErrors(up.findings)) {
    const failure = up.findings.find((f) => f.severity === 'error');
    return [
      {
        check: 'rollback',
        code: 'ROLLBACK_FAILED',
        severity: 'error',
        message: `every down migration restored the base schema, but applying the PR's migrations again failed: ${failure?.message ?? 'unknown error'}; a down migration leaves something the up migration does not expect`,
        ...(failure?.file === undefined ? { file: added.at(-1)!.downFile ?? added.at(-1)!.file } : { file: failure.file }),
        ...(failure?.line === undefined ? {} : { line: failure.line }),
        evidence: 'measured',
      },
    ];
  }
  const again = diffAcrossRenames(input.headSchema, await readSchema(), { recreated: false }).changes;
  if (again.length > 0) {
    return [
      {
        check: 'rollback',
        code: 'ROLLBACK_INCOMPLETE',
        severity: 'error',
        message: `rolling back and applying again gives a different schema: ${summary(again)}; a down migration leaves something behind that the up migration then changes`,
        file: added.at(-1)!.downFile ?? added.at(-1)!.file,
        evidence: 'measured',
        details: { changes: again.map((c) => c.description) },
      },
    ];
  }
  return [];
}

function summary(changes: readonly Change[]): string {
  return `${changes.slice(0, 3).map((c) => c.description).join('; ')}${changes.length > 3 ? ` and ${changes.length - 3} more` : ''}`;
}

/** One finding for what a down migration leaves behind, with the fix; enum values get their own words. */
function incomplete(source: MigrationSource, downFile: string, left: readonly Change[], expected: SchemaModel, actual: SchemaModel): Finding {
  const advice: string[] = [];
  for (const change of left) {
    if (change.kind !== 'enum') continue;
    const before = expected.objects.get(change.id) as EnumDef | undefined;
    const after = actual.objects.get(change.id) as EnumDef | undefined;
    if (before === undefined || after === undefined) continue;
    const extra = after.values.filter((v) => !before.values.includes(v));
    if (extra.length === 0) continue;
    const values = extra.map((v) => `'${v}'`).join(', ');
    advice.push(
      `enum ${after.qname} keeps ${values}: PostgreSQL cannot remove a value from an enum. Either recreate the type in the down migration (CREATE TYPE ... AS ENUM without ${values}; ALTER TABLE ... ALTER COLUMN ... TYPE the new type USING column::text::the new type; DROP TYPE the old one; rename the new one), or accept that rolling back keeps the value and write the up migration as ALTER TYPE ${after.qname} ADD VALUE IF NOT EXISTS so that it can run again`,
    );
  }
  const rest = left.filter((c) => c.kind !== 'enum' || !advice.some((a) => a.includes(c.id.slice(5))));
  const restText = rest.length === 0 ? '' : `${advice.length > 0 ? '; also ' : ''}${summary(rest)} (undo ${rest.length === 1 ? 'it' : 'them'} in the down migration)`;
  return {
    check: 'rollback',
    code: 'ROLLBACK_INCOMPLETE',
    severity: 'error',
    message: `rolling back ${source.label} does not restore the schema before it: ${advice.join('; ')}${restText}`,
    file: downFile,
    migration: source.id,
    evidence: 'measured',
    details: { changes: left.map((c) => c.description) },
  };
}
