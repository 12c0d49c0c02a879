// A postgres:// URL whose user name or password is not percent-encoded (`postgres://u:p@ss:/w0rd@host/db`)
// parses as a different host and database: the rest of the password leaks into messages as a
// "host" or "database", and connecting fails far from the cause. Such a URL is a usage error
// (exit 2) that says how to encode it and prints no part of the secret.

import { DriftGuardError } from '../errors.js';
import { registerSecret } from '../util/secrets.js';

/** Characters that must be percent-encoded in a URL's user name or password. */
const RESERVED_IN_USERINFO = /[@/?#[\]]|%(?![0-9A-Fa-f]{2})/;

/**
 * Checks a connection string read from `source` ("PROD_DATABASE_URL", "--database-url"). libpq
 * key=value strings pass through; URLs must parse and have an encoded user name and password.
 */
export function assertConnectionUrl(value: string, source: string): void {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
  if (scheme === null) return;
  const rest = value.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    // Whatever comes after the first colon is a password candidate: mask it before anything can print it.
    if (colon >= 0) registerSecret(userinfo.slice(colon + 1));
    const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    const password = colon >= 0 ? userinfo.slice(colon + 1) : '';
    if (RESERVED_IN_USERINFO.test(password) || password.includes(':')) throw notEncoded(source, 'password');
    if (RESERVED_IN_USERINFO.test(user)) throw notEncoded(source, 'user name');
  }
  try {
    new URL(value);
  } catch {
    throw new DriftGuardError('USAGE', `${source} is not a valid ${scheme[1]}:// URL (the form is postgresql://user:password@host:5432/database; percent-encode special characters in the user name and password)`);
  }
}

function notEncoded(source: string, part: string): DriftGuardError {
  return new DriftGuardError(
    'USAGE',
    `${source}: the ${part} in the URL contains characters that must be percent-encoded (@ : / ? # [ ] %); encode it, e.g. with node -e "console.log(encodeURIComponent(process.argv[1]))" 'the-${part.replace(' ', '-')}', or pass it as ?password=... encoded the same way`,
  );
}
