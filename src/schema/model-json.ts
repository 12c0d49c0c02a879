// A schema model as JSON text and back, for the PR gate's base-schema cache: a warm gate reads the
// base's model from the cache entry instead of inspecting the base database again. The text says
// which model options (ignore patterns, history tables, privileges) it was read with; a model read
// with other options, or text that is not one, gives undefined and the caller inspects the database.

import type { ModelOptions } from './rows-to-model.js';
import type { SchemaModel, SchemaObject, Unsupported } from './model.js';

const FORMAT = 'drift-guard schema model 1';

interface ModelText {
  readonly format: typeof FORMAT;
  readonly options: string;
  readonly serverVersionNum: number;
  readonly objects: readonly (readonly [string, SchemaObject])[];
  readonly dependencies: readonly (readonly [string, readonly string[]])[];
  readonly unsupported: readonly Unsupported[];
}

/** The model as JSON text (Map order kept), tagged with the options it was read with. */
export function modelToText(model: SchemaModel, options: ModelOptions): string {
  const text: ModelText = {
    format: FORMAT,
    options: optionsKey(options),
    serverVersionNum: model.serverVersionNum,
    objects: [...model.objects.entries()],
    dependencies: [...model.dependencies.entries()],
    unsupported: model.unsupported,
  };
  return JSON.stringify(text);
}

/** The model back from modelToText's output; undefined when it is not one or was read with other options. */
export function modelFromText(text: string, options: ModelOptions): SchemaModel | undefined {
  let parsed: Partial<ModelText>;
  try {
    parsed = JSON.parse(text) as Partial<ModelText>;
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.format !== FORMAT || parsed.options !== optionsKey(options)) return undefined;
  if (typeof parsed.serverVersionNum !== 'number' || !Array.isArray(parsed.objects) || !Array.isArray(parsed.dependencies) || !Array.isArray(parsed.unsupported)) return undefined;
  const entry = (e: unknown): boolean => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string';
  if (!parsed.objects.every((e) => entry(e) && typeof (e[1] as { kind?: unknown } | null)?.kind === 'string') || !parsed.dependencies.every((e) => entry(e) && Array.isArray(e[1]))) return undefined;
  return {
    objects: new Map(parsed.objects),
    dependencies: new Map(parsed.dependencies),
    unsupported: parsed.unsupported,
    serverVersionNum: parsed.serverVersionNum,
  };
}

function optionsKey(options: ModelOptions): string {
  return JSON.stringify({ ignore: options.ignore, ignoreHistoryTables: options.ignoreHistoryTables, privileges: options.privileges === true });
}
