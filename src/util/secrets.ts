// Secret handling: every secret drift-guard reads (a connection string's password, a generated
// server password) is registered here, and every writer that leaves the process (terminal, files,
// reports) passes its text through maskSecrets(). Registration is process-wide on purpose: a
// password that reaches an error message from deep inside a driver must still be masked.

const MASK = '***';
const secrets = new Set<string>();
let pattern: RegExp | undefined;

/** Registers a secret value (and its URL-encoded form) so that maskSecrets() hides it. */
export function registerSecret(value: string | undefined): void {
  if (value === undefined || value.length === 0) return;
  for (const form of new Set([value, encodeURIComponent(value), safeDecode(value)])) {
    if (form.length > 0 && !secrets.has(form)) {
      secrets.add(form);
      pattern = undefined;
    }
  }
}

/** Replaces every registered secret, and any password embedded in a connection string, with ***. */
export function maskSecrets(text: string): string {
  let out = text;
  if (secrets.size > 0) {
    pattern ??= new RegExp(
      [...secrets]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join('|'),
      'g',
    );
    out = out.replace(pattern, MASK);
  }
  return maskInlinePasswords(out);
}

/**
 * Parses a connection string, registers its password as a secret and returns a display form with
 * the password masked. Accepts URLs (postgres://, postgresql://) and libpq key=value strings.
 */
export function registerConnectionString(connectionString: string): string {
  const password = passwordOf(connectionString);
  registerSecret(password);
  return maskSecrets(connectionString);
}

export function passwordOf(connectionString: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(connectionString)) {
    try {
      const url = new URL(connectionString);
      const fromQuery = url.searchParams.get('password') ?? undefined;
      const fromAuthority = url.password === '' ? undefined : safeDecode(url.password);
      return fromAuthority ?? fromQuery;
    } catch {
      return /:\/\/[^:/@]*:([^@]*)@/.exec(connectionString)?.[1];
    }
  }
  return /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/.exec(connectionString)?.[1]?.replace(/^'|'$/g, '');
}

/** Masks passwords written inline in URLs or key=value strings that were never registered. */
function maskInlinePasswords(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)@/gi, (_m, head: string) => `${head}${MASK}@`)
    .replace(/([?&]password=)[^&\s]+/gi, (_m, head: string) => `${head}${MASK}`)
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'&]+)/gi, (_m, head: string) => `${head}${MASK}`);
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
