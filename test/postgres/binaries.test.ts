import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findInstallations } from '../../src/postgres/binaries.js';
import { cleanEnv, makeTempDir, removeDir } from '../helpers.js';

// A PostgreSQL "installation" on PATH whose postgres answers --version with a version of this
// test's choosing and counts how often it was asked: the real binaries found beside it are
// probed too, but only this one's count is looked at.
const tmp = makeTempDir();
afterAll(() => removeDir(tmp));

function fakeInstallation(name: string, version: string): { dir: string; asked: () => number; answer: (version: string) => void } {
  const dir = path.join(tmp, name, 'bin');
  const counter = path.join(tmp, name, 'asked');
  mkdirSync(dir, { recursive: true });
  const answer = (v: string): void => {
    writeFileSync(path.join(dir, 'postgres'), `#!/bin/sh\necho asked >> '${counter}'\necho 'postgres (PostgreSQL) ${v}'\n`);
    chmodSync(path.join(dir, 'postgres'), 0o755);
  };
  answer(version);
  writeFileSync(path.join(dir, 'initdb'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  return { dir, answer, asked: () => (existsSync(counter) ? readFileSync(counter, 'utf8').split('\n').filter(Boolean).length : 0) };
}

describe('PostgreSQL installations', () => {
  it("keeps each binary's version in the cache, asks again when the binary changes, and ignores a damaged cache", async () => {
    const fake = fakeInstallation('pg', '91.2');
    const cache = path.join(tmp, 'cache');
    const env = cleanEnv({ PATH: `${fake.dir}${path.delimiter}${process.env.PATH ?? ''}`, DRIFT_GUARD_CACHE_DIR: cache });
    const version = async (): Promise<string | undefined> => (await findInstallations(env)).find((i) => i.binDir === fake.dir)?.version;

    expect(await version()).toBe('91.2');
    expect(fake.asked()).toBe(1);
    expect(await version()).toBe('91.2');
    expect(fake.asked()).toBe(1);

    // Replaced in place (an upgrade): another size and change time.
    fake.answer('91.10');
    expect(await version()).toBe('91.10');
    expect(fake.asked()).toBe(2);
    expect(await version()).toBe('91.10');
    expect(fake.asked()).toBe(2);

    // A cache file that is not JSON (or of another format) is ignored and written again.
    const file = path.join(cache, 'binaries.json');
    writeFileSync(file, '{ not json');
    expect(await version()).toBe('91.10');
    expect(fake.asked()).toBe(3);
    writeFileSync(file, JSON.stringify({ format: 99, binaries: {} }));
    expect(await version()).toBe('91.10');
    expect(fake.asked()).toBe(4);
    expect(await version()).toBe('91.10');
    expect(fake.asked()).toBe(4);

    // A cache file that names a version for this very binary, but not in a version's form, is not believed.
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { binaries: Record<string, { identity: string; version: string }> };
    for (const known of Object.values(kept.binaries)) known.version = '$(reboot)';
    writeFileSync(file, JSON.stringify(kept));
    expect(await version()).toBe('91.10');
    expect(fake.asked()).toBe(5);
  }, 60_000);
});
