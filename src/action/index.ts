// The GitHub Action: reads inputs, runs the PR gate (mode: check) or the drift report (mode: drift),
// writes the job summary, one sticky PR comment or one drift issue, annotations and outputs. The
// job fails in exactly one place, at the bottom of this file.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import * as github from '@actions/github';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { describeError, isDriftGuardError } from '../errors.js';
import { runCheck, type CheckResult } from '../gate/check.js';
import { runDrift, type DriftResult } from '../ops/drift.js';
import { productionTarget } from '../ops/production.js';
import { driftVerdictLine, renderDriftMarkdown } from '../report/render-drift.js';
import { postgresOptionsFromConfig } from '../postgres/options-from-config.js';
import type { Finding } from '../report/finding.js';
import { renderCheckMarkdown, verdictLine } from '../report/render-check.js';
import type { Reporter } from '../util/reporter.js';
import { maskSecrets, passwordOf, registerConnectionString } from '../util/secrets.js';
import { readInputs, shouldFail, type ActionInputs } from './inputs.js';
import { syncDriftIssue } from './drift-issue.js';
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
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const cwd = path.resolve(workspace, inputs.workingDirectory);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const url of [inputs.databaseUrl, inputs.productionUrl]) if (url !== undefined) maskForGitHub(url);
  const loaded = withOverrides(loadConfig({ cwd, configPath: inputs.config }), inputs);
  if (inputs.databaseUrl !== undefined) env[loaded.config.postgres['url-env']] = inputs.databaseUrl;
  if (inputs.productionUrl !== undefined) env[loaded.config.production['url-env']] = inputs.productionUrl;
  const production = env[loaded.config.production['url-env']];
  if (production !== undefined) maskForGitHub(production);
  return inputs.mode === 'drift' ? driftMode(inputs, loaded, cwd, env) : checkMode(inputs, loaded, cwd, workspace, env);
}

async function checkMode(inputs: ActionInputs, loaded: LoadedConfig, cwd: string, workspace: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
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
  const counts = setOutputs(result.verdict, result.findings, result.schemaChanges.length, writeReport(result));

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

async function driftMode(inputs: ActionInputs, loaded: LoadedConfig, cwd: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const result = await runDrift({ loaded, cwd, env, reporter, postgres: postgresOptionsFromConfig(loaded, env, reporter), production: productionTarget(loaded, env) });
  const markdown = maskSecrets(renderDriftMarkdown(result));
  await core.summary.addRaw(markdown, true).write();
  for (const finding of result.findings) annotateOne(finding, undefined);
  const counts = setOutputs(result.verdict, result.findings, result.schemaChanges.length, writeReport(result));
  if (inputs.issue) {
    if (inputs.githubToken === undefined) core.notice('no github-token: the drift report is only in the job summary');
    else {
      const { serverUrl, runId } = github.context;
      const runUrl = runId === undefined || runId === 0 ? undefined : `${serverUrl}/${github.context.repo.owner}/${github.context.repo.repo}/actions/runs/${runId}`;
      const outcome = await syncDriftIssue(github.getOctokit(inputs.githubToken), github.context.repo, { drift: result.verdict === 'drift', body: markdown, label: inputs.issueLabel, runUrl });
      if (outcome.result === 'skipped') core.notice(outcome.reason);
      else if (outcome.result !== 'none') core.info(`${outcome.result} the drift issue: ${outcome.url}`);
    }
  }
  const line = maskSecrets(driftVerdictLine(result));
  core.info(line);
  return shouldFail(inputs.failOn, counts) ? { failure: line } : {};
}

/** The URL and its password as GitHub log secrets, and as drift-guard secrets. */
function maskForGitHub(url: string): void {
  registerConnectionString(url);
  core.setSecret(url);
  const password = passwordOf(url);
  if (password !== undefined) core.setSecret(password);
}

function setOutputs(verdict: string, findings: readonly Finding[], schemaChanges: number, reportPath: string): { errors: number; warnings: number; notices: number } {
  const counts = {
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
    notices: findings.filter((f) => f.severity === 'notice').length,
  };
  core.setOutput('result', verdict);
  core.setOutput('errors', counts.errors);
  core.setOutput('warnings', counts.warnings);
  core.setOutput('notices', counts.notices);
  core.setOutput('schema-changes', schemaChanges);
  core.setOutput('report', reportPath);
  return counts;
}

function withOverrides(loaded: LoadedConfig, inputs: Pick<ActionInputs, 'postgresVersion' | 'postgresProvider'>): LoadedConfig {
  if (inputs.postgresVersion === undefined && inputs.postgresProvider === undefined) return loaded;
  const postgres = { ...loaded.config.postgres, ...(inputs.postgresVersion === undefined ? {} : { version: inputs.postgresVersion }), ...(inputs.postgresProvider === undefined ? {} : { provider: inputs.postgresProvider }) };
  return { ...loaded, config: { ...loaded.config, postgres } };
}

/** One annotation per finding, on its file and line (paths relative to the workspace). */
function annotate(findings: readonly Finding[], cwd: string, workspace: string): void {
  for (const finding of findings) annotateOne(finding, finding.file === undefined ? undefined : path.relative(workspace, path.resolve(cwd, finding.file)));
}

function annotateOne(finding: Finding, file: string | undefined): void {
  const properties: core.AnnotationProperties = {
    title: `drift-guard ${finding.code}`,
    ...(file === undefined ? {} : { file }),
    ...(file === undefined || finding.line === undefined ? {} : { startLine: finding.line }),
    ...(file === undefined || finding.column === undefined ? {} : { startColumn: finding.column }),
  };
  const message = maskSecrets(finding.message);
  if (finding.severity === 'error') core.error(message, properties);
  else if (finding.severity === 'warning') core.warning(message, properties);
  else core.notice(message, properties);
}

function writeReport(result: CheckResult | DriftResult): string {
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
