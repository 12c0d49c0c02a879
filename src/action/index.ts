// The GitHub Action: reads inputs, runs the PR gate, writes the job summary, one sticky PR comment,
// annotations and outputs. The job fails in exactly one place, at the bottom of this file.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import * as github from '@actions/github';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { DriftGuardError, describeError, isDriftGuardError } from '../errors.js';
import { runCheck, type CheckResult } from '../gate/check.js';
import { postgresOptionsFromConfig } from '../postgres/options-from-config.js';
import type { Finding } from '../report/finding.js';
import { renderCheckMarkdown, verdictLine } from '../report/render-check.js';
import type { Reporter } from '../util/reporter.js';
import { maskSecrets, passwordOf, registerConnectionString } from '../util/secrets.js';
import { readInputs, shouldFail } from './inputs.js';
import { upsertComment } from './sticky-comment.js';

interface Outcome {
  readonly failure?: string;
}

const reporter: Reporter = {
  info: (message) => core.info(maskSecrets(message)),
  warn: (message) => core.warning(maskSecrets(message)),
  step: async (label, operation) => {
    core.startGroup(maskSecrets(label));
    try {
      return await operation();
    } finally {
      core.endGroup();
    }
  },
};

async function main(): Promise<Outcome> {
  const inputs = readInputs((name) => core.getInput(name));
  if (inputs.mode === 'drift') throw new DriftGuardError('USAGE', 'mode: drift arrives with the production tools; use mode: check');
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const cwd = path.resolve(workspace, inputs.workingDirectory);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (inputs.databaseUrl !== undefined) {
    registerConnectionString(inputs.databaseUrl);
    core.setSecret(inputs.databaseUrl);
    const password = passwordOf(inputs.databaseUrl);
    if (password !== undefined) core.setSecret(password);
  }
  const loaded = withOverrides(loadConfig({ cwd, configPath: inputs.config }), inputs.postgresVersion);
  if (inputs.databaseUrl !== undefined) env[loaded.config.postgres['url-env']] = inputs.databaseUrl;

  const pullRequest = github.context.payload.pull_request as { number: number; base?: { sha?: string }; labels?: { name?: string }[] } | undefined;
  const base = inputs.baseRef ?? pullRequest?.base?.sha;
  const result = await runCheck({
    loaded,
    cwd,
    env,
    reporter,
    postgres: postgresOptionsFromConfig(loaded, env, reporter),
    base,
    labels: (pullRequest?.labels ?? []).map((l) => l.name ?? '').filter((n) => n !== ''),
  });

  const markdown = maskSecrets(renderCheckMarkdown(result));
  await core.summary.addRaw(markdown, true).write();
  annotate(result.findings, cwd, workspace);
  const reportPath = writeReport(result);
  const counts = {
    errors: result.findings.filter((f) => f.severity === 'error').length,
    warnings: result.findings.filter((f) => f.severity === 'warning').length,
    notices: result.findings.filter((f) => f.severity === 'notice').length,
  };
  core.setOutput('result', result.verdict);
  core.setOutput('errors', counts.errors);
  core.setOutput('warnings', counts.warnings);
  core.setOutput('notices', counts.notices);
  core.setOutput('schema-changes', result.schemaChanges.length);
  core.setOutput('report', reportPath);

  if (inputs.comment && pullRequest !== undefined) {
    if (inputs.githubToken === undefined) core.notice('no github-token: the report is only in the job summary');
    else {
      const outcome = await upsertComment(github.getOctokit(inputs.githubToken), { ...github.context.repo, issue_number: pullRequest.number }, markdown);
      if (outcome.result === 'skipped') core.notice(outcome.reason);
      else core.info(`${outcome.result} the PR comment: ${outcome.url}`);
    }
  }
  core.info(maskSecrets(verdictLine(result)));
  return shouldFail(inputs.failOn, counts) ? { failure: maskSecrets(verdictLine(result)) } : {};
}

function withOverrides(loaded: LoadedConfig, postgresVersion: number | undefined): LoadedConfig {
  if (postgresVersion === undefined) return loaded;
  return { ...loaded, config: { ...loaded.config, postgres: { ...loaded.config.postgres, version: postgresVersion } } };
}

/** One annotation per finding, on its file and line (paths relative to the workspace). */
function annotate(findings: readonly Finding[], cwd: string, workspace: string): void {
  for (const finding of findings) {
    const file = finding.file === undefined ? undefined : path.relative(workspace, path.resolve(cwd, finding.file));
    const properties: core.AnnotationProperties = {
      title: `drift-guard ${finding.code}`,
      ...(file === undefined ? {} : { file }),
      ...(finding.line === undefined ? {} : { startLine: finding.line }),
      ...(finding.column === undefined ? {} : { startColumn: finding.column }),
    };
    const message = maskSecrets(finding.message);
    if (finding.severity === 'error') core.error(message, properties);
    else if (finding.severity === 'warning') core.warning(message, properties);
    else core.notice(message, properties);
  }
}

function writeReport(result: CheckResult): string {
  const dir = process.env.RUNNER_TEMP ?? process.cwd();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'drift-guard-report.json');
  writeFileSync(file, maskSecrets(JSON.stringify(result, null, 2)));
  return file;
}

// The one place the job fails.
main().then(
  (outcome) => {
    if (outcome.failure !== undefined) core.setFailed(outcome.failure);
  },
  (error: unknown) => {
    core.setFailed(maskSecrets(isDriftGuardError(error) ? error.message : `internal error: ${describeError(error)}`));
  },
);
