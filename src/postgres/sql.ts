// Identifier quoting for the few statements that cannot take parameters (CREATE/DROP DATABASE).

export function quoteIdent(identifier: string): string {
  if (identifier.includes('\u0000')) throw new Error('identifier contains a NUL byte');
  return `"${identifier.replace(/"/g, '""')}"`;
}
