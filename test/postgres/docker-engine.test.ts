// The Docker probe asks GET /version of whatever DOCKER_HOST (or a well-known socket) names; node:http
// is loaded only when there is an endpoint to ask. A real local HTTP server stands in for the engine
// (no Docker needed): over TCP and over a unix socket, a good answer, an error status, and silence.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeDockerEngine } from '../../src/postgres/docker-engine.js';
import { makeTempDir, removeDir } from '../helpers.js';

const tmp = makeTempDir('dg-docker-probe-');
const servers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  removeDir(tmp);
});

function serve(handler: http.RequestListener, where: number | string): Promise<http.Server> {
  const server = http.createServer(handler);
  servers.push(server);
  return new Promise((resolve) => server.listen(where, () => resolve(server)));
}

const engine: http.RequestListener = (req, res) => {
  if (req.url === '/version') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ Version: '27.3.1' }));
  else res.writeHead(404).end();
};

describe('probeDockerEngine', () => {
  it('reads the version over TCP and over a unix socket', async () => {
    const tcp = await serve(engine, 0);
    const port = (tcp.address() as AddressInfo).port;
    expect(await probeDockerEngine({ DOCKER_HOST: `tcp://127.0.0.1:${port}` })).toEqual({ available: true, endpoint: `tcp://127.0.0.1:${port}`, version: '27.3.1' });
    const socket = path.join(tmp, 'docker.sock');
    await serve(engine, socket);
    expect(await probeDockerEngine({ DOCKER_HOST: `unix://${socket}` })).toEqual({ available: true, endpoint: `unix://${socket}`, version: '27.3.1' });
  });

  it('says why when the endpoint answers badly or not at all', async () => {
    const broken = await serve((_req, res) => res.writeHead(500).end(), 0);
    const port = (broken.address() as AddressInfo).port;
    expect(await probeDockerEngine({ DOCKER_HOST: `tcp://127.0.0.1:${port}` })).toEqual({ available: false, reason: `no Docker engine answers at tcp://127.0.0.1:${port} (HTTP 500)` });
    const silent = await serve(() => undefined, 0);
    const quiet = (silent.address() as AddressInfo).port;
    expect(await probeDockerEngine({ DOCKER_HOST: `tcp://127.0.0.1:${quiet}` }, 300)).toEqual({ available: false, reason: `no Docker engine answers at tcp://127.0.0.1:${quiet} (no answer within 300 ms)` });
    const missing = path.join(tmp, 'nobody.sock');
    expect(await probeDockerEngine({ DOCKER_HOST: `unix://${missing}` })).toEqual({ available: false, reason: `no Docker engine answers at unix://${missing} (ENOENT)` });
  });
});
