// `drift-guard config`: the resolved configuration, with each `-env` reference shown as set/unset
// and its value masked; `--schema` prints the JSON Schema editors use.

import { Document, isScalar } from 'yaml';
import { configJsonSchema } from '../../config/config-schema.js';
import { readEnvSecret } from '../../config/env-secrets.js';
import { displayPath } from '../../config/load-config.js';
import type { CommandContext } from '../context.js';

export interface ConfigCommandOptions {
  readonly format: 'yaml' | 'json';
  readonly schema: boolean;
}

export function configCommand(context: CommandContext, options: ConfigCommandOptions): number {
  if (options.schema) {
    context.terminal.out(JSON.stringify(configJsonSchema(), null, 2));
    return 0;
  }
  const loaded = context.config();
  const secrets = envReferences(loaded.config).map((keyPath) => {
    const secret = readEnvSecret(loaded, keyPath, context.env);
    return { key: keyPath.join('.'), keyPath, variable: secret.name, set: secret.value !== undefined, value: secret.display ?? null };
  });

  if (options.format === 'json') {
    context.terminal.out(
      JSON.stringify(
        {
          file: loaded.file ?? null,
          config: loaded.config,
          environment: Object.fromEntries(secrets.map(({ key, variable, set, value }) => [key, { variable, set, value }])),
        },
        null,
        2,
      ),
    );
    return 0;
  }

  const doc = new Document(loaded.config);
  doc.commentBefore =
    loaded.file === undefined
      ? ' drift-guard configuration: defaults (no .drift-guard.yml found)'
      : ` drift-guard configuration: ${displayPath(loaded.file, context.cwd)}`;
  for (const secret of secrets) {
    const node = doc.getIn(secret.keyPath, true);
    if (isScalar(node)) node.comment = secret.set ? ` set: ${secret.value ?? ''}` : ' not set';
  }
  context.terminal.out(doc.toString({ lineWidth: 0 }));
  return 0;
}

/** Paths of every key ending in `-env` (references to secrets in the environment). */
function envReferences(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key.endsWith('-env') && typeof child === 'string' ? [[...prefix, key]] : envReferences(child, [...prefix, key]),
  );
}
