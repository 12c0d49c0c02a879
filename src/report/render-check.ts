// The PR gate's report: text for terminals, markdown for the job summary and the PR comment
// (one-line verdict, findings, what the PR does to the schema, phase times; kept under GitHub's
// 65,536-character comment limit), and the versioned JSON shape.

import type { CheckResult } from '../gate/check.js';
import type { Change } from '../schema/diff.js';
import type { Finding } from './finding.js';
import { escapeMarkdown } from './render-diff.js';
import { renderFindingText, type TextStyle } from './render-text.js';

export const COMMENT_LIMIT = 65_536;
/** Marks drift-guard's PR comment so that it is found and updated in place. */
export const COMMENT_MARKER = '<!-- drift-guard:check -->';

const ICON: Record<Finding['severity'], string> = { error: '❌', warning: '⚠️', notice: 'ℹ️' };

export function verdictLine(result: CheckResult): string {
  const count = (severity: Finding['severity']): number => result.findings.filter((f) => f.severity === severity && f.existing !== true).length;
  const errors = count('error');
  const warnings = count('warning');
  const summary = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}, ${result.schemaChanges.length} schema change${result.schemaChanges.length === 1 ? '' : 's'}`;
  if (result.verdict === 'fail') return `drift-guard: this PR's migrations need attention (${summary})`;
  if (result.verdict === 'warn') return `drift-guard: migrations apply, with warnings (${summary})`;
  return `drift-guard: migrations apply cleanly (${summary})`;
}

export function renderCheckText(result: CheckResult, t: TextStyle): string {
  const lines = [t.style('bold', verdictLine(result)), t.style('dim', `base ${result.base.ref} (${result.base.mergeBase.slice(0, 12)}); new migrations: ${result.migrations.added.join(', ') || 'none'}`)];
  if (result.groups !== undefined) lines.push(...result.groups.map((g) => t.style('dim', `  ${groupLine(g)}`)));
  const { introduced, existing } = split(result.findings);
  for (const finding of introduced) lines.push(renderFindingText(finding, t));
  if (existing.length > 0) {
    lines.push('', t.style('bold', `already on ${result.base.ref} (${existing.length}; not this PR's doing, they do not fail it)`));
    for (const finding of existing) lines.push(renderFindingText(finding, t));
  }
  const watched = factLines(result);
  if (watched.length > 0) lines.push('', t.style('bold', 'what each new migration did (measured on a scratch database)'), ...watched.map((line) => `  ${line}`));
  if (result.schemaChanges.length > 0) {
    lines.push('', t.style('bold', 'what this PR does to the schema'));
    for (const [table, changes] of byTable(result.schemaChanges)) {
      lines.push(`  ${table === '' ? 'schema objects' : table}`);
      for (const change of changes) lines.push(`    ${change.description}${change.hazards.length > 0 ? t.style('yellow', ` [${change.hazards.map((h) => h.code).join(', ')}]`) : ''}`);
    }
  }
  lines.push('', t.style('dim', result.timings.map((p) => `${p.phase} ${(p.ms / 1000).toFixed(1)}s`).join(' · ')));
  return lines.join('\n');
}

export function renderCheckMarkdown(result: CheckResult, limit = COMMENT_LIMIT): string {
  const head = [COMMENT_MARKER, `### ${ICON[result.verdict === 'fail' ? 'error' : result.verdict === 'warn' ? 'warning' : 'notice'].replace('ℹ️', '✅')} ${escapeMarkdown(verdictLine(result))}`, ''];
  const { introduced, existing } = split(result.findings);
  const findings = [...groupsTable(result.groups), ...findingsTable(introduced)];
  if (existing.length > 0) findings.push(`<details><summary>Already on ${escapeMarkdown(result.base.ref)} (${existing.length}): not this PR's doing, they do not fail it</summary>`, '', ...findingsTable(existing), '</details>', '');
  const watched = factLines(result);
  if (watched.length > 0) findings.push('<details><summary>What each new migration did (measured on a scratch database)</summary>', '', ...watched.map((line) => (line.startsWith('  ') ? `  - ${escapeMarkdown(line.trim())}` : `- ${escapeMarkdown(line)}`)), '', '</details>', '');
  const schema = changesByTable(result.schemaChanges, 'What this PR does to the schema');
  if (result.diagram !== undefined) schema.push('<details><summary>Tables this PR touches</summary>', '', '```mermaid', result.diagram, '```', '', '</details>', '');
  const tail = [`<sub>${result.timings.map((p) => `${escapeMarkdown(p.phase)} ${(p.ms / 1000).toFixed(1)} s`).join(' · ')} · base ${escapeMarkdown(result.base.ref)} \`${result.base.mergeBase.slice(0, 12)}\`</sub>`];
  return fitWithin([head, findings, schema, tail], limit);
}

/** "ShopContext: 1 new migration, 1 applied; no findings" (EF: one line per DbContext gated). */
function groupLine(group: NonNullable<CheckResult['groups']>[number]): string {
  const codes = group.findings.map((f) => `${f.severity} ${f.code}`);
  return `${group.name}: ${group.added.length} new migration${group.added.length === 1 ? '' : 's'}, ${group.applied.length} applied; ${codes.length === 0 ? 'no findings' : codes.join(', ')}`;
}

/** One row per group the project gates apart (EF: per DbContext); empty for a single one. */
function groupsTable(groups: CheckResult['groups']): string[] {
  if (groups === undefined || groups.length === 0) return [];
  const rows = ['| context | new migrations | applied | findings |', '|---|---|---|---|'];
  for (const g of groups) {
    const findings = g.findings.map((f) => `${ICON[f.severity]} \`${f.code}\``).join(' ') || '✅ none';
    rows.push(`| \`${g.name.replace(/`/g, "'")}\` | ${g.added.map((f) => `\`${f.split('/').at(-1)!.replace(/`/g, "'")}\``).join(', ') || 'none'} | ${g.applied.length} of ${g.added.length} | ${findings} |`);
  }
  return [...rows, ''];
}

/** The findings as a markdown table (empty when there are none). */
export function findingsTable(findings: readonly Finding[]): string[] {
  if (findings.length === 0) return [];
  const rows = ['| | code | where | message |', '|---|---|---|---|'];
  for (const f of findings) {
    const where = f.file === undefined ? '' : `\`${f.file.replace(/`/g, "'")}${f.line === undefined ? '' : `:${f.line}`}\``;
    rows.push(`| ${ICON[f.severity]} | \`${f.code}\` | ${where} | ${escapeMarkdown(f.message).replace(/\n/g, ' ')}${f.evidence === undefined ? '' : ` _(${f.evidence})_`} |`);
  }
  return [...rows, ''];
}

/** Schema changes grouped by table, with their hazards, in an open <details> block. */
export function changesByTable(changes: readonly Change[], title: string): string[] {
  if (changes.length === 0) return [];
  const lines = [`<details open><summary>${escapeMarkdown(title)}</summary>`, ''];
  for (const [table, group] of byTable(changes)) {
    lines.push(`**${table === '' ? 'Schema objects' : escapeMarkdown(table)}**`, '');
    for (const change of group) lines.push(`- ${escapeMarkdown(change.description)}${change.hazards.map((h) => ` ⚠️ \`${h.code}\``).join('')}`);
    lines.push('');
  }
  return [...lines, '</details>', ''];
}

/** Joins the sections; when too long, cuts whole lines from the longest section and says so. */
export function fitWithin(sections: string[][], limit: number): string {
  const join = (parts: string[][]): string => parts.map((p) => p.join('\n')).join('\n');
  let text = join(sections);
  if (text.length <= limit) return text;
  const notice = (dropped: number): string => `\n_…${dropped} more line(s) left out to stay within GitHub's comment size; the job summary and the JSON report have everything._\n`;
  const trimmed = sections.map((s) => [...s]);
  let dropped = 0;
  while (join(trimmed).length + notice(dropped + 1).length > limit) {
    const longest = trimmed.slice(1, 3).reduce((a, b) => (b.length > a.length ? b : a));
    if (longest.length === 0) break;
    longest.pop();
    dropped++;
  }
  text = `${join(trimmed)}${notice(dropped)}`;
  return text.length <= limit ? text : text.slice(0, limit);
}

export function checkToJson(result: CheckResult): CheckResult {
  return result;
}

function split(findings: readonly Finding[]): { introduced: Finding[]; existing: Finding[] } {
  return { introduced: findings.filter((f) => f.existing !== true), existing: findings.filter((f) => f.existing === true) };
}

/** One line per new migration, and one per statement that locked or rewrote an existing table or touched rows. */
function factLines(result: CheckResult): string[] {
  const lines: string[] = [];
  for (const fact of result.facts ?? []) {
    const how = fact.granularity === 'statement' ? `${fact.statements?.length ?? 0} statement(s)${fact.transaction === false ? ', outside a transaction' : ', in one transaction'}` : fact.granularity === 'migration' ? 'applied on its own by the tool' : 'applied with the rest by the tool';
    lines.push(`${fact.file}: ${fact.ms} ms, ${how}, ${fact.changes} schema change(s)${fact.rewrites !== undefined && fact.rewrites.length > 0 ? `, rewrote ${fact.rewrites.join(', ')}` : ''}`);
    for (const s of fact.statements ?? []) {
      const parts = [
        ...(s.locks !== undefined && s.locks.length > 0 ? [`locks ${s.locks.join(', ')}`] : []),
        ...(s.rewrites.length > 0 ? [`rewrote ${s.rewrites.join(', ')}`] : []),
        ...(s.rows !== undefined ? [`${s.rows} row(s)`] : []),
      ];
      if (parts.length > 0) lines.push(`  line ${s.line} (${s.kind}, ${s.ms} ms): ${parts.join('; ')}`);
    }
  }
  return lines;
}

function byTable(changes: readonly Change[]): [string, Change[]][] {
  const map = new Map<string, Change[]>();
  for (const change of changes) map.set(change.table ?? '', [...(map.get(change.table ?? '') ?? []), change]);
  return [...map.entries()].sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1));
}
