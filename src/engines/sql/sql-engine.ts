// The SQL engine behind the common Engine interface: a thin adapter over the migrator.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../../config/load-config.js';
import { DriftGuardError } from '../../errors.js';
import { withTransaction } from '../../postgres/client.js';
import type { Engine } from '../engine.js';
import { planScript, runWrites } from './execute.js';
import { currentSchema } from './layouts/common.js';
import { discover, migrateDown, migrateUp, migrationStatus, type SqlMigrations } from './migrator.js';
import { applyObserved } from './observed-run.js';
import { sqlGateFiles } from './sql-gate.js';
import { loadParser } from './sql-script.js';

/** `gateEnv`: the PR gate's environment (its cache directory); given, the gate keeps what it reads of base commits there. */
export function sqlEngine(loaded: LoadedConfig, project: SqlMigrations, cwd: string, gateEnv?: NodeJS.ProcessEnv): Engine {
  const settings = { lockTimeoutMs: loaded.config.sql['lock-timeout'] * 1000, allowOutOfOrder: loaded.config.sql['allow-out-of-order'] };
  const location = path.relative(cwd, project.dir) || '.';
  // The PR gate reads the directory once (a thousand files are read and split on every discover):
  // its git analysis, hints, lint and each observed apply share this reading.
  let discovered: ReturnType<typeof discover> | undefined;
  const current = (): ReturnType<typeof discover> => (discovered ??= discover(project));
  return {
    name: 'sql',
    capabilities: { rollback: true, modelCheck: false, history: true, granularity: 'statement' },
    location,
    details: { layout: project.layout.name, historyTable: project.layout.historyTable },
    migrate: (context, options) => migrateUp(project, { ...settings, ...context }, options),
    applyObserved: (context, id, baseTables) => applyObserved(project, { ...settings, ...context }, id, baseTables, current()),
    gate: sqlGateFiles(loaded, project, cwd, (other) => sqlEngine(loaded, other, cwd), current, gateEnv),
    rollback: (context, options) => migrateDown(project, { ...settings, ...context }, options),
    async status(context) {
      const status = await migrationStatus(project, { databaseUrl: context.databaseUrl, allowOutOfOrder: settings.allowOutOfOrder });
      return { statuses: status.statuses, findings: status.findings };
    },
    async baseline(context, options) {
      const { migrations } = discover(project);
      const { layout } = project;
      const chosen = migrations.filter((m) => m.kind === 'versioned' && layout.compareVersions(m.version, options.target) <= 0);
      if (!migrations.some((m) => m.kind === 'versioned' && m.version === options.target)) throw new DriftGuardError('USAGE', `no migration ${options.target} in ${location}`);
      return withTransaction(context.databaseUrl, async (client) => {
        await layout.ensureHistory(client);
        const session = { schema: await currentSchema(client) };
        for (const migration of chosen) await runWrites(client, layout.recordUp(migration, session, 0));
        return chosen.map((m) => m.version);
      });
    },
    async create(name, _reporter, body) {
      await loadParser(); // diesel's discover parses up.sql
      const existing = existsSync(project.dir) ? discover(project).migrations : [];
      const files = project.layout.newMigration(project.dir, name, existing, new Date(), body);
      for (const file of files) {
        if (existsSync(file.path)) throw new DriftGuardError('USAGE', `${path.relative(cwd, file.path)} already exists; wait a second or pick another name`);
      }
      for (const file of files) {
        mkdirSync(path.dirname(file.path), { recursive: true });
        writeFileSync(file.path, file.content, { flag: 'wx' });
      }
      return files.map((f) => path.relative(cwd, f.path));
    },
    async script(options) {
      await loadParser();
      const { migrations } = discover(project);
      const { layout } = project;
      const selected = migrations.filter(
        (m) =>
          m.kind === 'versioned' &&
          (options.from === undefined || layout.compareVersions(m.version, options.from) > 0) &&
          (options.to === undefined || layout.compareVersions(m.version, options.to) <= 0),
      );
      const lines = [`-- drift-guard script: ${selected.length} migration(s) from ${location} (${layout.name})`];
      for (const migration of selected) {
        const plan = planScript(migration.up);
        lines.push('', `-- ${migration.up.file} (version ${migration.version})`);
        if (plan.outsideTransaction === undefined) lines.push('BEGIN;');
        else lines.push(`-- runs outside a transaction: ${plan.outsideTransaction}`);
        for (const statement of plan.statements) lines.push(`${statement.text};`);
        lines.push(`-- then: record version ${migration.version} in ${layout.historyTable}, as ${layout.name} does`);
        if (plan.outsideTransaction === undefined) lines.push('COMMIT;');
      }
      return `${lines.join('\n')}\n`;
    },
  };
}
