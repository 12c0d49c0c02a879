// Turns the error PostgreSQL raises when a migration statement meets rows into the offending row
// or value, for a finding ("fails on data: ... offending row (3, NULL, 'txt-17')"). Pure: reads the
// error's fields (message, detail, code, column, table), as node-postgres's DatabaseError has them.

export interface DatabaseErrorLike {
  readonly message?: string;
  readonly detail?: string;
  readonly code?: string;
  readonly column?: string;
  readonly table?: string;
  readonly constraint?: string;
}

export function explainFailure(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const e = error as DatabaseErrorLike;
  const message = typeof e.message === 'string' ? e.message : '';
  const detail = typeof e.detail === 'string' ? e.detail : '';

  const failing = /^Failing row contains \((.*)\)\.?$/s.exec(detail);
  if (failing !== null) return `offending row: (${failing[1]})`;

  const duplicated = /^Key \((.*)\)=\((.*)\) is duplicated\.?$/s.exec(detail);
  if (duplicated !== null) return `duplicate value: (${duplicated[1]}) = (${duplicated[2]}) occurs in more than one row`;

  const missing = /^Key \((.*)\)=\((.*)\) is not present in table "(.*)"\.?$/s.exec(detail);
  if (missing !== null) return `offending value: (${missing[1]}) = (${missing[2]}) has no row in ${missing[3]}`;

  const stillReferenced = /^Key \((.*)\)=\((.*)\) is still referenced from table "(.*)"\.?$/s.exec(detail);
  if (stillReferenced !== null) return `offending value: (${stillReferenced[1]}) = (${stillReferenced[2]}) is still referenced from ${stillReferenced[3]}`;

  const exists = /^Key \((.*)\)=\((.*)\) already exists\.?$/s.exec(detail);
  if (exists !== null) return `duplicate value: (${exists[1]}) = (${exists[2]}) already exists`;

  const syntax = /^invalid input syntax for type ([^:]+): (".*")$/s.exec(message);
  if (syntax !== null) return `offending value: ${syntax[2]} is not a valid ${syntax[1]}`;

  const range = /^value "(.*)" is out of range for type (.+)$/s.exec(message);
  if (range !== null) return `offending value: "${range[1]}" is out of range for ${range[2]}`;

  const tooLong = /^value too long for type (.+)$/s.exec(message);
  if (tooLong !== null) return `a row holds a value longer than ${tooLong[1]} allows`;

  const nulls = /^column "(.*)" of relation "(.*)" contains null values$/s.exec(message);
  if (nulls !== null) return `a row of ${nulls[2]} holds NULL in ${nulls[1]}`;

  const checkViolated = /^check constraint "(.*)" of relation "(.*)" is violated by some row$/s.exec(message);
  if (checkViolated !== null) return `a row of ${checkViolated[2]} violates ${checkViolated[1]}`;

  const enumValue = /^invalid input value for enum ([^:]+): (".*")$/s.exec(message);
  if (enumValue !== null) return `offending value: ${enumValue[2]} is not a label of ${enumValue[1]}`;

  if (detail !== '' && e.code !== undefined && /^(22|23)/.test(e.code)) return detail;
  return undefined;
}
