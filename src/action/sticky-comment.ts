// Exactly one drift-guard comment per PR: found by its hidden marker among the comments the token's
// own identity wrote, and updated in place. Anyone can paste the marker into a comment; only ours
// are ever edited. A token that may not write (a fork's PR) skips the comment instead of failing.

import type { getOctokit } from '@actions/github';
import { COMMENT_MARKER } from '../report/render-check.js';

type Octokit = ReturnType<typeof getOctokit>;

export type CommentOutcome = { readonly result: 'created' | 'updated'; readonly url: string } | { readonly result: 'skipped'; readonly reason: string };

export async function upsertComment(octokit: Octokit, target: { owner: string; repo: string; issue_number: number }, body: string): Promise<CommentOutcome> {
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, { ...target, per_page: 100 });
    const me = await tokenLogin(octokit);
    const mine = comments.find((comment) => comment.user?.login === me && comment.body?.includes(COMMENT_MARKER) === true);
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

/** GITHUB_TOKEN writes as github-actions[bot]; GET /user answers 403 for it (an installation token). */
export const ACTIONS_BOT_LOGIN = 'github-actions[bot]';

/** The login the token writes comments as: GET /user, or github-actions[bot] when the token has no user. */
export async function tokenLogin(octokit: Octokit): Promise<string> {
  try {
    return (await octokit.rest.users.getAuthenticated()).data.login;
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 403 || status === 401 || status === 404) return ACTIONS_BOT_LOGIN;
    throw error;
  }
}
