// Answers "is there a Docker engine?" in about a millisecond when there is none, without loading
// testcontainers: DOCKER_HOST or a well-known socket, then GET /version on it.

import { existsSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export type DockerProbe =
  | { readonly available: true; readonly endpoint: string; readonly version: string }
  | { readonly available: false; readonly reason: string };

export async function probeDockerEngine(env: NodeJS.ProcessEnv = process.env, timeoutMs = 2_000): Promise<DockerProbe> {
  const endpoint = dockerEndpoint(env);
  if (endpoint === undefined) {
    return { available: false, reason: 'no Docker engine: DOCKER_HOST is not set and no Docker socket exists' };
  }
  if (endpoint.kind === 'other') {
    // TLS or named pipes: trust the configuration and let testcontainers connect.
    return { available: true, endpoint: endpoint.display, version: 'unknown' };
  }
  try {
    const body = await request(endpoint.options, timeoutMs);
    const version = (JSON.parse(body) as { Version?: string }).Version ?? 'unknown';
    return { available: true, endpoint: endpoint.display, version };
  } catch (error) {
    return { available: false, reason: `no Docker engine answers at ${endpoint.display} (${(error as Error).message})` };
  }
}

type Endpoint =
  | { kind: 'http'; display: string; options: http.RequestOptions }
  | { kind: 'other'; display: string };

function dockerEndpoint(env: NodeJS.ProcessEnv): Endpoint | undefined {
  const host = env.DOCKER_HOST;
  if (host !== undefined && host !== '') {
    if (host.startsWith('unix://')) {
      const socketPath = host.slice('unix://'.length);
      return { kind: 'http', display: host, options: { socketPath, path: '/version' } };
    }
    if (host.startsWith('tcp://') && env.DOCKER_TLS_VERIFY !== '1') {
      const url = new URL(host.replace(/^tcp:/, 'http:'));
      return { kind: 'http', display: host, options: { host: url.hostname, port: url.port || 2375, path: '/version' } };
    }
    return { kind: 'other', display: host };
  }
  const home = os.homedir();
  const sockets = [
    '/var/run/docker.sock',
    path.join(home, '.docker', 'run', 'docker.sock'),
    path.join(home, '.colima', 'default', 'docker.sock'),
    path.join(home, '.rd', 'docker.sock'),
    ...(env.XDG_RUNTIME_DIR ? [path.join(env.XDG_RUNTIME_DIR, 'docker.sock'), path.join(env.XDG_RUNTIME_DIR, 'podman', 'podman.sock')] : []),
  ];
  const socketPath = sockets.find((candidate) => existsSync(candidate));
  return socketPath === undefined ? undefined : { kind: 'http', display: `unix://${socketPath}`, options: { socketPath, path: '/version' } };
}

async function request(options: http.RequestOptions, timeoutMs: number): Promise<string> {
  // Loaded here: most runs find no socket and never ask (node:http costs a few ms of every start).
  const { get } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = get({ ...options, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${String(res.statusCode)}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
  });
}
