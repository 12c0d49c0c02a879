// Post-deploy health checks: HTTP endpoints that must answer 2xx, and a SQL probe that must run,
// each retried a few times (a restarting app needs a moment) with a timeout per attempt.

import { withClient } from '../postgres/client.js';
import { maskSecrets } from '../util/secrets.js';

export interface HealthSettings {
  readonly urls: readonly string[];
  readonly sql?: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly intervalMs: number;
}

export interface HealthResult {
  readonly target: string;
  readonly ok: boolean;
  readonly attempts: number;
  readonly detail: string;
}

export async function runHealthChecks(databaseUrl: string, settings: HealthSettings): Promise<HealthResult[]> {
  const results: HealthResult[] = [];
  for (const url of settings.urls) results.push(await retry(maskSecrets(url), settings, () => probeHttp(url, settings.timeoutMs)));
  if (settings.sql !== undefined) {
    const sql = settings.sql;
    results.push(await retry('SQL probe', settings, () => probeSql(databaseUrl, sql, settings.timeoutMs)));
  }
  return results;
}

async function retry(target: string, settings: HealthSettings, probe: () => Promise<string>): Promise<HealthResult> {
  let detail = '';
  for (let attempt = 1; attempt <= settings.retries + 1; attempt++) {
    try {
      return { target, ok: true, attempts: attempt, detail: await probe() };
    } catch (error) {
      detail = maskSecrets((error as Error).message);
      if (attempt <= settings.retries) await new Promise((resolve) => setTimeout(resolve, settings.intervalMs));
    }
  }
  return { target, ok: false, attempts: settings.retries + 1, detail };
}

async function probeHttp(url: string, timeoutMs: number): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    throw new Error((error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : `cannot reach it${cause === undefined ? '' : ` (${cause})`}`);
  }
  await response.body?.cancel();
  if (response.status < 200 || response.status > 299) throw new Error(`HTTP ${response.status}`);
  return `HTTP ${response.status}`;
}

async function probeSql(databaseUrl: string, sql: string, timeoutMs: number): Promise<string> {
  return withClient(databaseUrl, async (client) => {
    await client.query(`SET statement_timeout = ${Math.round(timeoutMs)}`);
    const result = await client.query(sql);
    return `${result.rowCount ?? 0} row(s)`;
  });
}
