// Exactly one drift-guard comment per PR: found by its hidden marker and updated in place. A token
// that may not write (a fork's PR) skips the comment instead of failing the job.

import type { getOctokit } from '@actions/github';
import { COMMENT_MARKER } from '../report/render-check.js';

type Octokit = ReturnType<typeof getOctokit>;

export type CommentOutcome = { readonly result: 'created' | 'updated'; readonly url: string } | { readonly result: 'skipped'; readonly reason: string };

export async function upsertComment(octokit: Octokit, target: { owner: string; repo: string; issue_number: number }, body: string): Promise<CommentOutcome> {
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, { ...target, per_page: 100 });
    const mine = comments.find((comment) => comment.body?.includes(COMMENT_MARKER) === true);
    if (mine !== undefined) {
      const updated = await octokit.rest.issues.updateComment({ owner: target.owner, repo: target.repo, comment_id: mine.id, body });
      return { result: 'updated', url: updated.data.html_url };
    }
    const created = await octokit.rest.issues.createComment({ ...target, body });
    return { result: 'created', url: created.data.html_url };
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 403 || status === 404) {
      return { result: 'skipped', reason: `the token cannot write PR comments (HTTP ${status}; a fork's PR gets a read-only token), so the report is only in the job summary` };
    }
    throw error;
  }
}
