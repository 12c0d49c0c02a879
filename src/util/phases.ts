// Timed phases: each runs as a reporter step (progress on a terminal) and its wall time is kept
// for the report's "time of each phase".

import type { Reporter } from './reporter.js';

export interface PhaseTiming {
  readonly phase: string;
  readonly ms: number;
}

export interface PhaseTimer {
  readonly timings: PhaseTiming[];
  timed<T>(phase: string, fn: () => Promise<T>): Promise<T>;
}

export function phaseTimer(reporter: Reporter): PhaseTimer {
  const timings: PhaseTiming[] = [];
  return {
    timings,
    async timed(phase, fn) {
      const started = performance.now();
      try {
        return await reporter.step(phase, fn);
      } finally {
        timings.push({ phase, ms: Math.round(performance.now() - started) });
      }
    },
  };
}
