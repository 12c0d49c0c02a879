// EF-specific integrity of the migration files on disk, compared with what EF itself discovers
// (`dotnet ef migrations list`): a migration class EF does not list (no [Migration] attribute,
// [Migration] without [DbContext], another context), a migration without its Designer file,
// duplicate ids, more than one model snapshot per context, one context's migrations split
// across folders. The attributes are read as C# writes them: short or fully qualified
// (`[Microsoft.EntityFrameworkCore.Migrations.Migration("...")]`, `global::`), with or without
// the Attribute suffix, several in one pair of brackets.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Finding } from '../../report/finding.js';

export interface MigrationFileInfo {
  readonly id: string;
  /** The context named by [DbContext(typeof(X))], without namespace or global::. */
  readonly context: string | undefined;
  /** The file carrying the [Migration] attribute (normally <id>.Designer.cs). */
  readonly designer: string;
  readonly dir: string;
  /** The file with Up()/Down() (normally <id>.cs), when found. */
  readonly main?: string | undefined;
}

export interface ScannedMigrations {
  readonly migrations: readonly MigrationFileInfo[];
  readonly findings: readonly Finding[];
}

export interface DiscoveryFacts {
  /** Ids EF lists, for every context gated. */
  readonly ids: readonly string[];
  /** The contexts gated (simple names); migrations of other contexts are not compared. */
  readonly contexts?: readonly string[] | undefined;
}

const MIGRATION_FILE = /^(\d{14}_\w+)\.cs$/;
const QUALIFIER = String.raw`(?:global::)?(?:[A-Za-z_]\w*\.)*`;
const MIGRATION_ATTRIBUTE = new RegExp(String.raw`[\[,]\s*${QUALIFIER}Migration(?:Attribute)?\s*\(\s*@?"([^"]+)"\s*\)`);
const CONTEXT_ATTRIBUTE = new RegExp(String.raw`[\[,]\s*${QUALIFIER}DbContext(?:Attribute)?\s*\(\s*typeof\s*\(\s*${QUALIFIER}(\w+)\s*\)\s*\)`);
const MIGRATION_BASE = new RegExp(String.raw`class\s+(\w+)\s*:\s*${QUALIFIER}Migration\b(?!Builder|Attribute)`);
const SNAPSHOT_BASE = new RegExp(String.raw`:\s*${QUALIFIER}ModelSnapshot\b`);

interface ClassParts {
  id?: string;
  context?: string;
  attributeFile?: string;
  mainFile?: string;
  files: string[];
}

/**
 * Scans the project's source tree (bin/obj left out) for migrations, designers and snapshots.
 * With `discovered` (what `migrations list` printed), every migration class on disk that EF
 * does not list is a finding at its file.
 */
export function scanMigrationFiles(projectDir: string, root: string, discovered: readonly string[] | DiscoveryFacts | undefined): ScannedMigrations {
  const facts: DiscoveryFacts | undefined = discovered === undefined ? undefined : Array.isArray(discovered) ? { ids: discovered as readonly string[] } : (discovered as DiscoveryFacts);
  const findings: Finding[] = [];
  const snapshots = new Map<string, string[]>();
  const rel = (file: string): string => path.relative(root, file);
  // Partial classes: the attributes live in one file (Designer), the base class in another.
  const classes = new Map<string, ClassParts>();

  for (const file of sourceFiles(projectDir)) {
    const text = stripComments(readFileSync(file, 'utf8'));
    const context = CONTEXT_ATTRIBUTE.exec(text)?.[1];
    if (SNAPSHOT_BASE.test(text)) {
      const key = context ?? '(unknown context)';
      snapshots.set(key, [...(snapshots.get(key) ?? []), file]);
      continue;
    }
    const id = MIGRATION_ATTRIBUTE.exec(text)?.[1];
    const base = MIGRATION_BASE.exec(text)?.[1];
    const className = base ?? /\bclass\s+(\w+)/.exec(text)?.[1];
    if (id === undefined && base === undefined) continue;
    const key = `${path.dirname(file)}\u0000${className ?? file}`;
    const parts = classes.get(key) ?? { files: [] };
    parts.files.push(file);
    if (id !== undefined) {
      parts.id = id;
      parts.attributeFile = file;
    }
    if (context !== undefined) parts.context = context;
    if (base !== undefined) parts.mainFile = file;
    classes.set(key, parts);
  }

  const migrations: MigrationFileInfo[] = [];
  const discoveredIds = facts === undefined ? undefined : new Set(facts.ids);
  const ours = (context: string | undefined): boolean => facts?.contexts === undefined || context === undefined || facts.contexts.some((c) => simpleName(c) === context);
  for (const parts of classes.values()) {
    const where = parts.mainFile ?? parts.attributeFile ?? parts.files[0]!;
    if (parts.id !== undefined && parts.attributeFile !== undefined) {
      migrations.push({ id: parts.id, context: parts.context, designer: parts.attributeFile, dir: path.dirname(parts.attributeFile), main: parts.mainFile });
      if (discoveredIds === undefined || discoveredIds.has(parts.id) || !ours(parts.context)) continue;
      const reason =
        parts.context === undefined
          ? 'it has [Migration] but no [DbContext(typeof(...))] attribute, so EF cannot tell which context it belongs to'
          : parts.mainFile === undefined
            ? 'no class derives from Migration for it'
            : 'it belongs to another context or assembly, or is excluded from the build';
      findings.push({
        check: 'efcore',
        code: 'MIGRATION_NOT_DISCOVERED',
        severity: 'error',
        message: `${parts.id} is on disk (${rel(where)}) but dotnet ef migrations list does not show it: ${reason}; EF never applies it`,
        file: rel(where),
      });
      continue;
    }
    // A class deriving from Migration without a [Migration] attribute: EF never sees it.
    const match = MIGRATION_FILE.exec(path.basename(where));
    const designer = match === null ? undefined : path.join(path.dirname(where), `${match[1]}.Designer.cs`);
    if (designer !== undefined && !sourceFileExists(designer)) {
      findings.push({
        check: 'efcore',
        code: 'MIGRATION_DESIGNER_MISSING',
        severity: 'error',
        message: `${rel(where)} has no ${path.basename(designer)}: without its [Migration] attribute EF does not see the migration; recreate it with dotnet ef migrations add`,
        file: rel(where),
      });
    } else {
      findings.push({
        check: 'efcore',
        code: 'MIGRATION_NOT_DISCOVERED',
        severity: 'error',
        message: `${rel(where)} defines a migration class without a [Migration("<id>")] attribute: EF never lists or applies it; add the attribute (and [DbContext(typeof(...))]) or recreate it with dotnet ef migrations add`,
        file: rel(where),
      });
    }
  }
  migrations.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const byId = new Map<string, MigrationFileInfo[]>();
  for (const migration of migrations) byId.set(`${migration.context ?? ''}\u0000${migration.id}`, [...(byId.get(`${migration.context ?? ''}\u0000${migration.id}`) ?? []), migration]);
  for (const list of byId.values()) {
    if (list.length > 1) {
      findings.push({
        check: 'efcore',
        code: 'MIGRATION_DUPLICATE_VERSION',
        severity: 'error',
        message: `migration id ${list[0]!.id} is declared ${list.length} times (${list.map((m) => rel(m.designer)).join(', ')})`,
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
        message: `the migrations of ${context} are split across ${[...dirs].map(rel).join(', ')}; EF applies them all, but keep them in one folder`,
      });
    }
  }
  return { migrations, findings };
}

/** "Ns.ShopContext" / "global::Ns.ShopContext" -> "ShopContext". */
/** The DbContext a migration's source names in [DbContext(typeof(X))] (simple name), if any. */
export function contextOfMigration(text: string): string | undefined {
  return CONTEXT_ATTRIBUTE.exec(text)?.[1];
}

export function simpleName(name: string): string {
  return name.replace(/^global::/, '').split('.').at(-1)!;
}

/** Comments out of the way (a commented-out attribute is no attribute); strings kept. */
function stripComments(text: string): string {
  return text.replace(/("(?:[^"\\\n]|\\.)*")|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (_whole, literal: string | undefined) => literal ?? ' ');
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
