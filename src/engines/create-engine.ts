// Picks the engine the config asks for.

import type { SqlLayoutSetting } from '../config/config-schema.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { PostgresOptions } from '../postgres/scratch.js';
import type { Reporter } from '../util/reporter.js';
import { commandEngine } from './command/command-engine.js';
import { efcoreEngine } from './efcore/efcore-engine.js';
import type { Engine } from './engine.js';
import { resolveSqlMigrations } from './sql/project.js';
import { sqlEngine } from './sql/sql-engine.js';

export interface EngineOptions {
  readonly loaded: LoadedConfig;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  readonly postgres?: PostgresOptions;
  readonly dir?: string | undefined;
  readonly layout?: SqlLayoutSetting | undefined;
  /** For `new`: the directory may be empty or missing. */
  readonly mayBeEmpty?: boolean;
  /** For the PR gate: SQL files the layout does not read are reported by the gate, not a reason to refuse applying. */
  readonly forGate?: boolean;
}

export function createEngine(options: EngineOptions): Engine {
  if (options.loaded.config.engine === 'efcore') return efcoreEngine(options.loaded, options.cwd, options.env, options.reporter, options.postgres);
  if (options.loaded.config.engine === 'command') return commandEngine(options.loaded, options.cwd, options.env);
  const project = resolveSqlMigrations(options.loaded, options.cwd, { dir: options.dir, layout: options.layout }, { mayBeEmpty: options.mayBeEmpty === true });
  return options.forGate === true ? sqlEngine(options.loaded, { ...project, failOnUnrecognized: false }, options.cwd, options.env) : sqlEngine(options.loaded, project, options.cwd);
}
