// Renders migration events: a live line (n/m, migration, elapsed) on a terminal, one line per
// migration in logs, or one JSON object per line with --format json.

import type { MigrationEvent } from '../engines/sql/migrator.js';
import type { Terminal } from './terminal.js';

export interface MigrationProgress {
  onEvent(event: MigrationEvent): void;
  stop(): void;
}

export function migrationProgress(terminal: Terminal, format: 'text' | 'json'): MigrationProgress {
  if (format === 'json') {
    return { onEvent: (event) => terminal.out(jsonText(event)), stop: () => undefined };
  }
  let live: { label: string; started: number; timer: NodeJS.Timeout } | undefined;
  const clearLive = (): void => {
    if (live === undefined) return;
    clearInterval(live.timer);
    terminal.live(undefined);
    live = undefined;
  };
  const verb = (direction: 'up' | 'down'): string => (direction === 'up' ? 'applied' : 'rolled back');
  return {
    onEvent(event) {
      switch (event.event) {
        case 'plan':
          if (event.total === 0) terminal.out(event.direction === 'up' ? 'nothing to apply: the database is up to date' : 'nothing to roll back');
          else if (event.dryRun) terminal.out(`would ${event.direction === 'up' ? 'apply' : 'roll back'} ${event.total}: ${event.migrations.join(', ')}`);
          return;
        case 'start': {
          if (!terminal.interactive) return;
          const label = `[${event.index}/${event.total}] ${event.migration}${event.transaction ? '' : ' (no transaction)'}`;
          const started = performance.now();
          const render = (): void => terminal.live(`${label} ${terminal.style('dim', `${((performance.now() - started) / 1000).toFixed(1)}s`)}`);
          render();
          live = { label, started, timer: setInterval(render, 100) };
          return;
        }
        case 'done':
          clearLive();
          terminal.out(`${terminal.style('green', verb(event.direction))} ${event.migration} ${terminal.style('dim', `(${formatMs(event.ms)})`)}`);
          return;
        case 'failed':
          clearLive();
          terminal.out(`${terminal.style('red', 'failed')} ${event.migration} ${terminal.style('dim', `(${formatMs(event.ms)})`)}`);
          return;
      }
    },
    stop: clearLive,
  };
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/**
 * JSON for people and scripts: durations (keys ending in "ms"/"Ms") rounded to 0.1 ms, so a
 * measurement reads 25.6 rather than 25.580990000000043. One line unless `pretty`.
 */
export function jsonText(value: unknown, options: { pretty?: boolean } = {}): string {
  return JSON.stringify(value, (key, item: unknown) => (typeof item === 'number' && /(?:^ms|Ms)$/.test(key) ? Math.round(item * 10) / 10 : item), options.pretty === true ? 2 : undefined);
}
