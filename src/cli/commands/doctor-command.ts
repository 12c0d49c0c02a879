// `drift-guard doctor`: renders the doctor report; exit 3 when no PostgreSQL provider can run.

import { runDoctor, type DoctorReport } from '../../doctor/doctor.js';
import { postgresOptionsFromConfig } from '../../postgres/options-from-config.js';
import type { CommandContext } from '../context.js';
import type { Terminal } from '../terminal.js';

export async function doctorCommand(context: CommandContext, options: { format: 'text' | 'json' }): Promise<number> {
  const loaded = context.config();
  const pgOptions = postgresOptionsFromConfig(loaded, context.env, context.terminal.reporter());
  const report = await runDoctor(loaded, pgOptions, context.cwd);
  if (options.format === 'json') context.terminal.out(JSON.stringify(report, null, 2));
  else context.terminal.out(renderDoctor(report, context.terminal));
  return report.provider.chosen === null ? 3 : 0;
}

export function renderDoctor(report: DoctorReport, t: Terminal): string {
  const ok = (text: string): string => t.style('green', text);
  const bad = (text: string): string => t.style('yellow', text);
  const rows: [string, string[]][] = [];
  rows.push(['drift-guard', [`${report.driftGuard}${report.config === null ? ' (no .drift-guard.yml: defaults)' : ` (config: ${report.config})`}`]]);
  rows.push(['node', [report.node.supported ? ok(report.node.version) : bad(`${report.node.version} (drift-guard needs Node.js 20 or later)`)]]);
  rows.push(['git', [report.git.version ?? bad('not found (needed by check and drift)')]]);
  const pg = report.postgres;
  const installs = pg.installations.map((i) => `${ok(i.version)}  ${i.origin}${i.source === 'system' ? '' : ' (npm)'}`);
  rows.push(['postgres', installs.length > 0 ? installs : [bad('no server binaries found')]]);
  rows.push(['', [t.style('dim', `data directory cache: ${pg.cacheDir} (${pg.cachedTemplates.length === 0 ? 'empty' : pg.cachedTemplates.join(', ')})`)]]);
  rows.push(['', [t.style('dim', `storage: ${pg.storage.setting} -> data directories in ${pg.storage.directory}`)]]);
  if (pg.runsAs !== null) rows.push(['', [t.style('dim', `running as root: the embedded server runs as ${pg.runsAs}`)]]);
  if (pg.runAsProblem !== null) rows.push(['', [bad(pg.runAsProblem)]]);
  rows.push(['docker', [report.docker.available ? ok(`${report.docker.version} at ${report.docker.endpoint}`) : bad(report.docker.reason)]]);
  const ef = report.dotnet.dotnetEf;
  rows.push([
    'dotnet',
    [
      report.dotnet.version === null ? bad('not found (needed only for engine: efcore)') : ok(report.dotnet.version),
      ...(report.dotnet.version === null
        ? []
        : [ef === null ? t.style('dim', 'dotnet-ef: not pinned (an EF Core project pins it in its tool manifest, dotnet-tools.json)') : `dotnet-ef ${ef.version} pinned in ${ef.pinnedIn}`]),
    ],
  ]);
  const provider = report.provider;
  rows.push([
    'provider',
    [
      provider.chosen === null
        ? bad(`${provider.setting}: nothing can run PostgreSQL here`)
        : `${provider.setting} (version ${provider.wantedVersion}) -> ${ok(provider.chosen)}: ${provider.detail ?? ''}`,
      ...provider.skipped.map((s) => t.style('dim', `not ${s.provider}: ${s.reason}`)),
    ],
  ]);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.flatMap(([label, lines]) => lines.map((line, i) => `${(i === 0 ? label : '').padEnd(width)}${line}`)).join('\n');
}
