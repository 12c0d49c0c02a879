// What every command receives: where to write, the environment, and the config (loaded on first
// use, so that `--help` and `--version` never touch the file system).

import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import type { Terminal } from './terminal.js';

export interface CommandContext {
  readonly terminal: Terminal;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  config(): LoadedConfig;
}

export function createContext(terminal: Terminal, env: NodeJS.ProcessEnv, cwd: string, configPath: string | undefined): CommandContext {
  let loaded: LoadedConfig | undefined;
  return {
    terminal,
    env,
    cwd,
    config: () => (loaded ??= loadConfig({ configPath, cwd })),
  };
}

export type OutputFormat = 'text' | 'json' | 'markdown' | 'yaml';

/** Resolves --format/--json into one format, rejecting a contradiction. */
export function outputFormat<T extends OutputFormat>(options: { format?: T; json?: boolean }, fallback: T): T | 'json' {
  if (options.json === true) return 'json';
  return options.format ?? fallback;
}
