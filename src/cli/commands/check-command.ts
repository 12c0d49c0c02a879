// `drift-guard check`: the PR gate in a terminal or a CI job.

import { runCheck } from '../../gate/check.js';
import { postgresOptionsFromConfig } from '../../postgres/options-from-config.js';
import { renderCheckMarkdown, renderCheckText } from '../../report/render-check.js';
import type { CommandContext } from '../context.js';

export async function checkCommand(context: CommandContext, options: { base?: string; format: 'text' | 'markdown' | 'json'; labels: string[] }): Promise<number> {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const result = await runCheck({
    loaded,
    cwd: context.cwd,
    env: context.env,
    reporter,
    postgres: postgresOptionsFromConfig(loaded, context.env, reporter),
    base: options.base,
    labels: options.labels,
  });
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify(result, null, 2));
  else if (options.format === 'markdown') t.out(renderCheckMarkdown(result));
  else t.out(renderCheckText(result, t));
  return result.verdict === 'fail' ? 1 : 0;
}
