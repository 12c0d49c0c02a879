import { describe, expect, it } from 'vitest';
import { withClient } from '../../src/postgres/client.js';
import { probeDockerEngine } from '../../src/postgres/docker-engine.js';
import { withScratchDatabase } from '../../src/postgres/scratch.js';
import { pgOptions } from '../helpers.js';

const probe = await probeDockerEngine();
if (!probe.available) console.log(`docker provider tests skipped: ${probe.reason}`);

describe.skipIf(!probe.available)('docker provider (testcontainers)', () => {
  it('starts postgres:<version>, creates and drops a scratch database', async () => {
    const options = pgOptions({ provider: 'docker', version: 16 });
    const version = await withScratchDatabase(options, (db) =>
      withClient(db.url, async (client) => (await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v),
    );
    expect(Math.floor(Number(version) / 10000)).toBe(16);
  }, 300_000);
});

describe('docker engine probe', () => {
  it('reports a reason when DOCKER_HOST points at nothing', async () => {
    const result = await probeDockerEngine({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, 500);
    expect(result.available).toBe(false);
    expect(!result.available && result.reason).toMatch(/no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock \(ENOENT\)/);
  });
});
