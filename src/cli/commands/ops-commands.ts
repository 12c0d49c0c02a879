// Production commands: drift (and, below, deploy, backup, restore, baseline). The production URL
// only ever comes from the environment variable production.url-env names.

import { runDrift } from '../../ops/drift.js';
import { productionTarget } from '../../ops/production.js';
import { postgresOptionsFromConfig } from '../../postgres/options-from-config.js';
import { renderDriftMarkdown, renderDriftText } from '../../report/render-drift.js';
import type { CommandContext } from '../context.js';

export async function driftCommand(context: CommandContext, options: { format: 'text' | 'markdown' | 'json'; modelCheck: boolean }): Promise<number> {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const production = productionTarget(loaded, context.env);
  const result = await runDrift({
    loaded,
    cwd: context.cwd,
    env: context.env,
    reporter,
    postgres: postgresOptionsFromConfig(loaded, context.env, reporter),
    production,
    skipModelCheck: !options.modelCheck,
  });
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify(result, null, 2));
  else if (options.format === 'markdown') t.out(renderDriftMarkdown(result));
  else t.out(renderDriftText(result, t));
  return result.verdict === 'drift' ? 1 : 0;
}
