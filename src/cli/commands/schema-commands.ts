// inspect and diff: schema snapshots and schema differences between any two sources.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { postgresOptionsFromConfig } from '../../postgres/options-from-config.js';
import { diffSchemas } from '../../schema/diff.js';
import { renderSnapshot, modelToJson } from '../../schema/snapshot.js';
import { diffToJson, renderDiffMarkdown, renderDiffSql, renderDiffText } from '../../report/render-diff.js';
import { loadSchemas, parseSource, type SourceContext } from '../../schema/sources.js';
import type { CommandContext } from '../context.js';

function sourceContext(context: CommandContext, privileges: boolean): SourceContext {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  return { loaded, cwd: context.cwd, env: context.env, reporter, postgres: postgresOptionsFromConfig(loaded, context.env, reporter), privileges };
}

export async function inspectCommand(context: CommandContext, source: string, options: { format: 'sql' | 'json'; output?: string; privileges?: boolean }): Promise<number> {
  const [model] = await loadSchemas([parseSource(source, context.cwd)], sourceContext(context, options.privileges === true));
  const text = options.format === 'json' ? `${JSON.stringify(modelToJson(model!), null, 2)}\n` : renderSnapshot(model!);
  if (options.output === undefined) context.terminal.out(text);
  else {
    writeFileSync(path.resolve(context.cwd, options.output), text);
    context.terminal.reporter().info(`wrote ${options.output}`);
  }
  return 0;
}

export async function diffCommand(
  context: CommandContext,
  fromSource: string,
  toSource: string,
  options: { format: 'sql' | 'text' | 'json' | 'markdown'; privileges?: boolean },
): Promise<number> {
  const [from, to] = await loadSchemas([parseSource(fromSource, context.cwd), parseSource(toSource, context.cwd)], sourceContext(context, options.privileges === true));
  const diff = diffSchemas(from!, to!);
  const t = context.terminal;
  switch (options.format) {
    case 'sql':
      t.out(renderDiffSql(diff));
      break;
    case 'json':
      t.out(JSON.stringify(diffToJson(diff), null, 2));
      break;
    case 'markdown':
      t.out(renderDiffMarkdown(diff));
      break;
    case 'text':
      t.out(renderDiffText(diff, t));
      break;
  }
  return diff.changes.length === 0 && diff.unsupported.length === 0 ? 0 : 1;
}
