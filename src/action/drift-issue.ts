// One GitHub issue per drifting production: opened (labelled) when drift appears, updated in place
// on every scheduled run while it lasts, closed with a comment when it is gone. Found by its label
// and the hidden marker in its body, so a renamed title does not make a second one.

import type { getOctokit } from '@actions/github';
import { DRIFT_MARKER } from '../report/render-drift.js';

type Octokit = ReturnType<typeof getOctokit>;

export const DRIFT_ISSUE_TITLE = 'Production schema drift';

export type IssueOutcome =
  | { readonly result: 'opened' | 'updated' | 'closed'; readonly url: string }
  | { readonly result: 'none' }
  | { readonly result: 'skipped'; readonly reason: string };

export async function syncDriftIssue(octokit: Octokit, repo: { owner: string; repo: string }, options: { drift: boolean; body: string; label: string; runUrl?: string | undefined }): Promise<IssueOutcome> {
  try {
    const open = await octokit.paginate(octokit.rest.issues.listForRepo, { ...repo, state: 'open', labels: options.label, per_page: 100 });
    const existing = open.find((issue) => issue.pull_request === undefined && issue.body?.includes(DRIFT_MARKER) === true);
    if (options.drift) {
      if (existing !== undefined) {
        const updated = await octokit.rest.issues.update({ ...repo, issue_number: existing.number, body: options.body });
        return { result: 'updated', url: updated.data.html_url };
      }
      const created = await octokit.rest.issues.create({ ...repo, title: DRIFT_ISSUE_TITLE, body: options.body, labels: [options.label] });
      return { result: 'opened', url: created.data.html_url };
    }
    if (existing === undefined) return { result: 'none' };
    await octokit.rest.issues.createComment({ ...repo, issue_number: existing.number, body: `The drift is gone: production matches its migrations again${options.runUrl === undefined ? '' : ` ([run](${options.runUrl}))`}. Closing.` });
    const closed = await octokit.rest.issues.update({ ...repo, issue_number: existing.number, state: 'closed', state_reason: 'completed' });
    return { result: 'closed', url: closed.data.html_url };
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 403 || status === 404 || status === 410) {
      return { result: 'skipped', reason: `the token cannot manage issues (HTTP ${status}); give the workflow "permissions: issues: write". The report is in the job summary` };
    }
    throw error;
  }
}
