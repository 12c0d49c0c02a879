// How library code tells the user what it is doing without knowing where the words go. The CLI
// renders it for a terminal (colours, live elapsed time) or plainly for logs; tests use a
// collecting reporter; the Action will route it to @actions/core.

export interface Reporter {
  /** A fact worth a line in the log ("using embedded PostgreSQL 16.14"). */
  info(message: string): void;
  /** Something the user should act on but that does not stop the run. */
  warn(message: string): void;
  /** Runs a long operation, showing its label and elapsed time while it runs when attached to a terminal. */
  step<T>(label: string, operation: () => Promise<T>): Promise<T>;
}

export const silentReporter: Reporter = {
  info: () => undefined,
  warn: () => undefined,
  step: (_label, operation) => operation(),
};

/** A reporter that records what was said, for tests and for embedding messages in reports. */
export class RecordingReporter implements Reporter {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(`info: ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn: ${message}`);
  }
  async step<T>(label: string, operation: () => Promise<T>): Promise<T> {
    this.lines.push(`step: ${label}`);
    return operation();
  }
}
