// A Mermaid erDiagram of the tables a PR touches and their foreign-key neighbours, for the PR
// comment. Pure: a schema model and table ids in, Mermaid text out.

import type { SchemaModel, TableDef } from '../schema/model.js';

const MAX_TABLES = 30;

export function erDiagram(model: SchemaModel, touched: readonly string[]): string | undefined {
  const tables = new Map<string, TableDef>();
  for (const object of model.objects.values()) if (object.kind === 'table' && object.partitionOf === undefined) tables.set(object.id, object);
  const foreignKeys = [...model.objects.values()].filter((o) => o.kind === 'constraint' && o.type === 'f' && o.references !== undefined) as {
    table: string;
    references: string;
    name: string;
    definition: string;
  }[];
  const shown = new Set(touched.filter((id) => tables.has(id)));
  if (shown.size === 0) return undefined;
  for (const fk of foreignKeys) {
    if (shown.has(fk.table) && tables.has(fk.references)) shown.add(fk.references);
    else if (shown.has(fk.references) && tables.has(fk.table)) shown.add(fk.table);
  }
  const ids = [...shown].sort().slice(0, MAX_TABLES);
  const keep = new Set(ids);
  const name = (id: string): string => id.slice('table:'.length).replace(/"/g, '').replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['erDiagram'];
  for (const id of ids) {
    const table = tables.get(id)!;
    const primary = primaryKeyColumns(model, id);
    const foreign = new Set(foreignKeys.filter((fk) => fk.table === id).flatMap((fk) => /FOREIGN KEY \(([^)]*)\)/.exec(fk.definition)?.[1]?.split(',').map((c) => c.trim().replace(/"/g, '')) ?? []));
    lines.push(`    ${name(id)} {`);
    for (const column of [...table.columns].sort((a, b) => a.position - b.position)) {
      const marks = [primary.has(column.name) ? 'PK' : '', foreign.has(column.name) ? 'FK' : ''].filter((m) => m !== '').join(', ');
      lines.push(`        ${column.type.replace(/[^A-Za-z0-9_]+/g, '_').replace(/_+$/, '')} ${column.name.replace(/[^A-Za-z0-9_]/g, '_')}${marks === '' ? '' : ` ${marks}`}`);
    }
    lines.push('    }');
  }
  for (const fk of foreignKeys) {
    if (keep.has(fk.table) && keep.has(fk.references)) lines.push(`    ${name(fk.references)} ||--o{ ${name(fk.table)} : "${fk.name.replace(/"/g, '')}"`);
  }
  if (shown.size > MAX_TABLES) lines.push(`    %% ${shown.size - MAX_TABLES} more tables left out`);
  return lines.join('\n');
}

function primaryKeyColumns(model: SchemaModel, tableId: string): Set<string> {
  for (const object of model.objects.values()) {
    if (object.kind === 'constraint' && object.type === 'p' && object.table === tableId) {
      return new Set((/PRIMARY KEY \(([^)]*)\)/.exec(object.definition)?.[1] ?? '').split(',').map((c) => c.trim().replace(/"/g, '')));
    }
  }
  return new Set();
}
