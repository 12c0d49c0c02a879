// libpq's environment variables for a connection URL, so that psql, pg_dump and the user's own
// migration tools connect to the same database as DATABASE_URL.

export function libpqEnvironment(connectionString: string): Record<string, string> {
  const url = new URL(connectionString);
  const host = url.searchParams.get('host') ?? url.hostname.replace(/^\[(.*)\]$/, '$1');
  const env: Record<string, string> = {
    PGHOST: host === '' ? 'localhost' : host,
    PGPORT: url.searchParams.get('port') ?? (url.port || '5432'),
    PGUSER: url.username === '' ? (url.searchParams.get('user') ?? '') : decodeURIComponent(url.username),
    PGDATABASE: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : (url.searchParams.get('dbname') ?? ''),
  };
  // ?password= works as node-postgres reads it (drift) for pg_dump, pg_restore and psql too.
  const password = url.password !== '' ? decodeURIComponent(url.password) : url.searchParams.get('password');
  if (password !== null && password !== '') env['PGPASSWORD'] = password;
  const options = url.searchParams.get('options');
  if (options !== null) env['PGOPTIONS'] = options;
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null) env['PGSSLMODE'] = sslmode;
  return env;
}
