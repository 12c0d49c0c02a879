// Findings as text for a terminal: one headline per finding, then the offending line with a caret
// and PostgreSQL's detail and hint when there are any.

import type { Finding } from './finding.js';

export interface TextStyle {
  style(kind: 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan', text: string): string;
}

export function renderFindingText(finding: Finding, t: TextStyle): string {
  const colour = finding.severity === 'error' ? 'red' : finding.severity === 'warning' ? 'yellow' : 'cyan';
  const where = finding.file === undefined ? '' : `${finding.file}${finding.line === undefined ? '' : `:${finding.line}${finding.column === undefined ? '' : `:${finding.column}`}`}: `;
  const evidence = finding.evidence === undefined ? '' : t.style('dim', ` (${finding.evidence})`);
  const lines = [`${t.style(colour, finding.severity)} ${t.style('bold', finding.code)} ${where}${finding.message}${evidence}`];
  const details = finding.details ?? {};
  if (typeof details.lineText === 'string' && finding.line !== undefined) {
    const gutter = String(finding.line);
    lines.push(t.style('dim', `  ${gutter} | `) + details.lineText);
    if (finding.column !== undefined) lines.push(t.style('dim', `  ${' '.repeat(gutter.length)} | `) + ' '.repeat(Math.max(0, finding.column - 1)) + t.style(colour, '^'));
  }
  for (const key of ['detail', 'hint', 'where'] as const) {
    const value = details[key];
    if (typeof value === 'string') lines.push(`  ${t.style('dim', `${key}:`)} ${value}`);
  }
  return lines.join('\n');
}
