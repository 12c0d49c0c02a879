// A schema diff as text (terminal), markdown (PR comments, job summaries) or JSON. The SQL form is
// SchemaDiff.statements itself.

import type { Change, SchemaDiff } from '../schema/diff.js';
import type { TextStyle } from './render-text.js';
import { escapeControlCharacters } from '../util/control-chars.js';

const SYMBOL: Record<Change['action'], string> = { create: '+', drop: '-', alter: '~', replace: '!' };

function groups(diff: SchemaDiff): [string, Change[]][] {
  const byTable = new Map<string, Change[]>();
  for (const change of diff.changes) {
    const key = change.table ?? '';
    byTable.set(key, [...(byTable.get(key) ?? []), change]);
  }
  return [...byTable.entries()].sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1));
}

export function diffSummary(diff: SchemaDiff): string {
  if (diff.changes.length === 0 && diff.unsupported.length === 0) return 'no differences';
  const hazardous = diff.changes.filter((c) => c.hazards.length > 0).length;
  return `${diff.changes.length} change${diff.changes.length === 1 ? '' : 's'}${hazardous > 0 ? `, ${hazardous} with hazards` : ''}${diff.unsupported.length > 0 ? `, ${diff.unsupported.length} unsupported object(s)` : ''}`;
}

export function renderDiffText(diff: SchemaDiff, t: TextStyle): string {
  const lines = [t.style('bold', diffSummary(diff))];
  for (const [table, changes] of groups(diff)) {
    lines.push('', t.style('bold', table === '' ? 'schema objects' : `table ${table}`));
    for (const change of changes) {
      lines.push(`  ${SYMBOL[change.action]} ${change.description}`);
      for (const h of change.hazards) lines.push(`      ${t.style('yellow', h.code)} ${h.message}${h.safeAlternative === undefined ? '' : t.style('dim', ` Safer: ${h.safeAlternative}.`)}`);
      for (const hint of change.hints) lines.push(`      ${t.style('cyan', 'hint')} ${hint}`);
    }
  }
  for (const item of diff.unsupported) lines.push(`${t.style('red', 'UNSUPPORTED')} ${item}`);
  return lines.join('\n');
}

export function renderDiffMarkdown(diff: SchemaDiff): string {
  const lines = [`**${escapeMarkdown(diffSummary(diff))}**`];
  for (const [table, changes] of groups(diff)) {
    lines.push('', `#### ${table === '' ? 'Schema objects' : `\`${escapeCode(table)}\``}`, '');
    for (const change of changes) {
      lines.push(`- ${SYMBOL[change.action] === '+' ? '➕' : SYMBOL[change.action] === '-' ? '➖' : '✏️'} ${escapeMarkdown(change.description)}`);
      for (const h of change.hazards) lines.push(`  - ⚠️ **${h.code}**: ${escapeMarkdown(h.message)}${h.safeAlternative === undefined ? '' : ` _Safer:_ ${escapeMarkdown(h.safeAlternative)}.`}`);
      for (const hint of change.hints) lines.push(`  - 💡 ${escapeMarkdown(hint)}`);
    }
  }
  for (const item of diff.unsupported) lines.push('', `> **UNSUPPORTED**: ${escapeMarkdown(item)}`);
  return lines.join('\n');
}

export function renderDiffSql(diff: SchemaDiff): string {
  const lines = ['SET check_function_bodies = false;', ...diff.statements];
  for (const item of diff.unsupported) lines.push(`-- UNSUPPORTED: ${item}`);
  return diff.statements.length === 0 && diff.unsupported.length === 0 ? '-- no differences\n' : `${lines.join('\n')}\n`;
}

export function diffToJson(diff: SchemaDiff): Record<string, unknown> {
  return { identical: diff.changes.length === 0 && diff.unsupported.length === 0, changes: diff.changes, statements: diff.statements, unsupported: diff.unsupported };
}

/** Escapes text for GitHub markdown: HTML and the characters that start formatting. */
export function escapeMarkdown(text: string): string {
  return escapeControlCharacters(text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/([\\`*_{}[\]|#])/g, '\\$1'));
}

function escapeCode(text: string): string {
  return escapeControlCharacters(text.replace(/`/g, "'"));
}
