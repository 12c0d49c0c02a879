// The one error class drift-guard throws for expected failures. The CLI and the Action print only
// its message (never a stack) and exit with the code its `code` maps to, as DESIGN.md's contract says.

export type UsageErrorCode = 'USAGE' | 'CONFIG_INVALID' | 'CONFIG_NOT_FOUND' | 'ENV_VAR_MISSING';
export type EnvironmentErrorCode =
  | 'POSTGRES_UNAVAILABLE'
  | 'POSTGRES_START_FAILED'
  | 'POSTGRES_RUN_AS_ROOT'
  | 'DOCKER_UNAVAILABLE'
  | 'DATABASE_UNREACHABLE'
  | 'DATABASE_PERMISSION'
  | 'DATABASE_ERROR'
  | 'LOCK_TIMEOUT'
  | 'TOOL_MISSING'
  | 'BACKUP_FAILED';
export type ErrorCode = UsageErrorCode | EnvironmentErrorCode;

/** Exit codes shared by the CLI and the Action. */
export const ExitCode = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  environment: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const usageCodes: ReadonlySet<ErrorCode> = new Set<UsageErrorCode>([
  'USAGE',
  'CONFIG_INVALID',
  'CONFIG_NOT_FOUND',
  'ENV_VAR_MISSING',
]);

export class DriftGuardError extends Error {
  override readonly name = 'DriftGuardError';
  readonly code: ErrorCode;
  /** Extra lines printed after the message (e.g. every config error when there are several). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? [];
  }

  get exitCode(): ExitCode {
    return usageCodes.has(this.code) ? ExitCode.usage : ExitCode.environment;
  }
}

export function isDriftGuardError(error: unknown): error is DriftGuardError {
  return error instanceof DriftGuardError;
}

/** A one-line description of any thrown value, for wrapping causes into messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}
