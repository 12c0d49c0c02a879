// EF-specific integrity of the migration files on disk, compared with what EF discovers:
// a migration without its Designer file (EF cannot see it), files EF does not discover, duplicate
// ids, more than one model snapshot per context, one context's migrations split across folders.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Finding } from '../../report/finding.js';

export interface MigrationFileInfo {
  readonly id: string;
  readonly context: string | undefined;
  readonly designer: string;
  readonly dir: string;
}

export interface ScannedMigrations {
  readonly migrations: readonly MigrationFileInfo[];
  readonly findings: readonly Finding[];
}

const MIGRATION_FILE = /^(\d{14}_\w+)\.cs$/;

/** Scans the project's source tree (bin/obj left out) for migrations, designers and snapshots. */
export function scanMigrationFiles(projectDir: string, root: string, discoveredIds: readonly string[] | undefined): ScannedMigrations {
  const findings: Finding[] = [];
  const migrations: MigrationFileInfo[] = [];
  const snapshots = new Map<string, string[]>();
  const rel = (file: string): string => path.relative(root, file);

  for (const file of sourceFiles(projectDir)) {
    const name = path.basename(file);
    const text = readFileSync(file, 'utf8');
    const context = /\[DbContext\(typeof\(([\w.]+)\)\)\]/.exec(text)?.[1];
    if (/:\s*ModelSnapshot\b/.test(text)) {
      const key = context ?? '(unknown context)';
      snapshots.set(key, [...(snapshots.get(key) ?? []), file]);
      continue;
    }
    const attribute = /\[Migration\("([^"]+)"\)\]/.exec(text)?.[1];
    if (attribute !== undefined) {
      migrations.push({ id: attribute, context, designer: file, dir: path.dirname(file) });
      continue;
    }
    const match = MIGRATION_FILE.exec(name);
    if (match !== null && /:\s*Migration\b/.test(text)) {
      const designer = path.join(path.dirname(file), `${match[1]}.Designer.cs`);
      if (!sourceFileExists(designer)) {
        findings.push({
          check: 'efcore',
          code: 'MIGRATION_DESIGNER_MISSING',
          severity: 'error',
          message: `${rel(file)} has no ${path.basename(designer)}: without its [Migration] attribute EF does not see the migration; recreate it with dotnet ef migrations add`,
          file: rel(file),
        });
      }
    }
  }

  const byId = new Map<string, MigrationFileInfo[]>();
  for (const migration of migrations) byId.set(migration.id, [...(byId.get(migration.id) ?? []), migration]);
  for (const [id, list] of byId) {
    if (list.length > 1) {
      findings.push({
        check: 'efcore',
        code: 'MIGRATION_DUPLICATE_VERSION',
        severity: 'error',
        message: `migration id ${id} is declared ${list.length} times (${list.map((m) => rel(m.designer)).join(', ')})`,
        file: rel(list[1]!.designer),
      });
    }
  }
  for (const [context, files] of snapshots) {
    if (files.length > 1) {
      findings.push({
        check: 'efcore',
        code: 'MULTIPLE_SNAPSHOTS',
        severity: 'error',
        message: `${context} has ${files.length} model snapshots (${files.map(rel).join(', ')}); keep the one next to its migrations`,
        file: rel(files[1]!),
      });
    }
  }
  const folders = new Map<string, Set<string>>();
  for (const migration of migrations) {
    const key = migration.context ?? '(unknown context)';
    folders.set(key, new Set([...(folders.get(key) ?? []), migration.dir]));
  }
  for (const [context, dirs] of folders) {
    if (dirs.size > 1) {
      findings.push({
        check: 'efcore',
        code: 'MIGRATIONS_SPLIT',
        severity: 'warning',
        message: `the migrations of ${context} are split across ${[...dirs].map(rel).join(', ')}; keep them in one folder`,
      });
    }
  }
  if (discoveredIds !== undefined) {
    const discovered = new Set(discoveredIds);
    for (const migration of migrations) {
      if (!discovered.has(migration.id)) {
        findings.push({
          check: 'efcore',
          code: 'MIGRATION_NOT_DISCOVERED',
          severity: 'error',
          message: `${migration.id} is on disk (${rel(migration.designer)}) but dotnet ef migrations list does not show it: it belongs to another context, another assembly, or is excluded from the build`,
          file: rel(migration.designer),
        });
      }
    }
  }
  return { migrations, findings };
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!['bin', 'obj', '.git', 'node_modules'].includes(entry.name)) out.push(...sourceFiles(full));
    } else if (entry.name.endsWith('.cs')) {
      out.push(full);
    }
  }
  return out;
}

function sourceFileExists(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}
