// Everything the CLI writes goes through here: secrets masked, colours only on a terminal that
// wants them, progress only on a terminal, plain lines for logs, nothing but results on stdout.

import type { Reporter } from '../util/reporter.js';
import { escapeControlCharacters } from '../util/control-chars.js';
import { maskSecrets } from '../util/secrets.js';

export interface CliStreams {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Where answers to questions come from; questions are only asked when it is a terminal. */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface TerminalOptions {
  readonly color: boolean;
  readonly quiet: boolean;
}

export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';
const CODES: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

/** Whether colours are wanted: --no-color and NO_COLOR turn them off; FORCE_COLOR turns them on. */
export function colorWanted(flag: boolean, env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  if (!flag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return isTTY === true && env.TERM !== 'dumb';
}

export class Terminal {
  readonly interactive: boolean;

  constructor(
    private readonly streams: CliStreams,
    private readonly options: TerminalOptions,
  ) {
    this.interactive = streams.stderr.isTTY === true;
  }

  /** Results: stdout, always printed. */
  out(text: string): void {
    this.streams.stdout.write(escapeControlCharacters(maskSecrets(text.endsWith('\n') ? text : `${text}\n`), true));
  }

  /** Diagnostics: stderr. */
  err(text: string): void {
    this.streams.stderr.write(escapeControlCharacters(maskSecrets(text.endsWith('\n') ? text : `${text}\n`), true));
  }

  /** Replaces the live status line on a terminal (undefined clears it); does nothing elsewhere. */
  live(text: string | undefined): void {
    if (!this.interactive) return;
    this.streams.stderr.write(`\r\u001b[2K${text === undefined ? '' : escapeControlCharacters(maskSecrets(text), true)}`);
  }

  /** Asks on stderr and reads one line from a terminal; undefined when stdin is not one. */
  async ask(question: string): Promise<string | undefined> {
    const input = this.streams.stdin;
    if (input === undefined || input.isTTY !== true) return undefined;
    const readline = await import('node:readline/promises');
    const rl = readline.createInterface({ input, output: this.streams.stderr, terminal: false });
    try {
      return await rl.question(escapeControlCharacters(maskSecrets(question)));
    } finally {
      rl.close();
    }
  }

  style(style: Style, text: string): string {
    if (!this.options.color) return text;
    const [open, close] = CODES[style];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  }

  reporter(): Reporter {
    return {
      info: (message) => {
        if (!this.options.quiet) this.err(this.style('dim', message));
      },
      warn: (message) => this.err(`${this.style('yellow', 'warning:')} ${message}`),
      step: (label, operation) => this.step(label, operation),
    };
  }

  private async step<T>(label: string, operation: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)}s`;
    if (!this.interactive || this.options.quiet) {
      const result = await operation();
      if (!this.options.quiet) this.err(`${label} (${elapsed()})`);
      return result;
    }
    const frames = ['|', '/', '-', '\\'];
    let frame = 0;
    const render = (): void => {
      this.streams.stderr.write(`\r\u001b[2K${this.style('cyan', frames[frame++ % frames.length]!)} ${escapeControlCharacters(maskSecrets(label))} ${this.style('dim', elapsed())}`);
    };
    render();
    const timer = setInterval(render, 100);
    try {
      const result = await operation();
      this.streams.stderr.write(`\r\u001b[2K${this.style('green', 'ok')} ${escapeControlCharacters(maskSecrets(label))} ${this.style('dim', `(${elapsed()})`)}\n`);
      return result;
    } catch (error) {
      this.streams.stderr.write(`\r\u001b[2K${this.style('red', 'failed')} ${escapeControlCharacters(maskSecrets(label))} ${this.style('dim', `(${elapsed()})`)}\n`);
      throw error;
    } finally {
      clearInterval(timer);
    }
  }
}
