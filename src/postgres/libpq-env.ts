// libpq's environment variables for a connection URL, so that psql, pg_dump and the user's own
// migration tools connect to the same database as DATABASE_URL.

export function libpqEnvironment(connectionString: string): Record<string, string> {
  const url = new URL(connectionString);
  const host = url.searchParams.get('host') ?? url.hostname.replace(/^\[(.*)\]$/, '$1');
  const env: Record<string, string> = {
    PGHOST: host === '' ? 'localhost' : host,
    PGPORT: url.searchParams.get('port') ?? (url.port || '5432'),
    PGUSER: decodeURIComponent(url.username),
    PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
  };
  if (url.password !== '') env['PGPASSWORD'] = decodeURIComponent(url.password);
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null) env['PGSSLMODE'] = sslmode;
  return env;
}
