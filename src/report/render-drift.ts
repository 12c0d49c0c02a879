// The drift report: text for terminals, markdown for the job summary and the drift issue (a
// one-line verdict, the findings, how production differs grouped by table, the SQL that would
// bring it back), and the versioned JSON shape (DriftResult itself).

import type { DriftResult } from '../ops/drift.js';
import { changesByTable, COMMENT_LIMIT, findingsTable, fitWithin } from './render-check.js';
import { escapeMarkdown } from './render-diff.js';
import { renderFindingText, type TextStyle } from './render-text.js';

/** Marks drift-guard's drift issue so that a scheduled run finds and updates it. */
export const DRIFT_MARKER = '<!-- drift-guard:drift -->';

export function driftVerdictLine(result: DriftResult): string {
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  const where = `production (${result.production.applied} migration${result.production.applied === 1 ? '' : 's'} applied${result.production.lastApplied === undefined ? '' : `, last ${result.production.lastApplied}`})`;
  if (result.verdict === 'drift') return `drift-guard: ${where} has drifted (${errors} error${errors === 1 ? '' : 's'}, ${result.schemaChanges.length} schema difference${result.schemaChanges.length === 1 ? '' : 's'})`;
  if (result.verdict === 'pending') return `drift-guard: ${where} matches its migrations; ${result.migrations.pending.length} migration(s) wait to be deployed`;
  return `drift-guard: ${where} matches its migrations`;
}

export function renderDriftText(result: DriftResult, t: TextStyle): string {
  const lines = [t.style('bold', driftVerdictLine(result)), t.style('dim', `${result.production.url} (PostgreSQL ${result.production.server})`)];
  for (const finding of result.findings) lines.push(renderFindingText(finding, t));
  if (result.repairSql.length > 0) {
    lines.push('', t.style('bold', 'SQL that would bring production back to its migrations (review before running):'));
    lines.push(...result.repairSql.map((statement) => `  ${statement.replace(/\n/g, '\n  ')}`));
  }
  lines.push('', t.style('dim', result.timings.map((p) => `${p.phase} ${(p.ms / 1000).toFixed(1)}s`).join(' · ')));
  return lines.join('\n');
}

export function renderDriftMarkdown(result: DriftResult, limit = COMMENT_LIMIT): string {
  const icon = result.verdict === 'drift' ? '❌' : result.verdict === 'pending' ? '⏳' : '✅';
  const head = [DRIFT_MARKER, `### ${icon} ${escapeMarkdown(driftVerdictLine(result))}`, ''];
  const body = [...findingsTable(result.findings), ...changesByTable(result.schemaChanges, 'How production differs from its migrations')];
  if (result.repairSql.length > 0) {
    body.push('<details><summary>SQL that would bring production back to its migrations (review before running)</summary>', '', '```sql', ...result.repairSql.map((s) => s.replace(/```/g, '`‵`')), '```', '', '</details>', '');
  }
  const tail = [`<sub>${result.timings.map((p) => `${escapeMarkdown(p.phase)} ${(p.ms / 1000).toFixed(1)} s`).join(' · ')} · PostgreSQL ${escapeMarkdown(result.production.server)}</sub>`];
  return fitWithin([head, body, [], tail], limit);
}
