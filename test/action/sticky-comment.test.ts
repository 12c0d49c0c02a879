import { getOctokit } from '@actions/github';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenLogin, upsertComment } from '../../src/action/sticky-comment.js';
import { COMMENT_MARKER } from '../../src/report/render-check.js';
import { FakeGitHub } from './fake-github.js';

// Item 13 of issue 13: the sticky comment is found only among the token's own comments.

const github = new FakeGitHub();
beforeAll(() => github.start());
afterAll(() => github.stop());
const target = { owner: 'acme', repo: 'shop', issue_number: 7 };
const octokit = () => getOctokit('token', { baseUrl: `http://127.0.0.1:${github.port}` });

describe('sticky comment', () => {
  it.each([
    ['GITHUB_TOKEN (github-actions[bot])', undefined],
    ['a personal token (GET /user)', 'release-bot'],
  ])('%s: a comment by someone else that holds the marker is left alone', async (_what, login) => {
    github.tokenLogin = login;
    github.comments = [{ id: 1, body: `${COMMENT_MARKER}\nI pasted the marker to get my text edited`, html_url: 'x', user: { login: 'mallory' } }];
    const first = await upsertComment(octokit(), target, `${COMMENT_MARKER}\nreport 1`);
    expect(first.result).toBe('created');
    expect(github.comments[0]!.body).toContain('I pasted the marker');
    const second = await upsertComment(octokit(), target, `${COMMENT_MARKER}\nreport 2`);
    expect(second.result).toBe('updated');
    expect(github.comments.map((c) => [c.user?.login, c.body.split('\n')[1]])).toEqual([
      ['mallory', 'I pasted the marker to get my text edited'],
      [login ?? 'github-actions[bot]', 'report 2'],
    ]);
  });

  it('tokenLogin: GET /user, else github-actions[bot]', async () => {
    github.tokenLogin = 'someone';
    expect(await tokenLogin(octokit())).toBe('someone');
    github.tokenLogin = undefined;
    expect(await tokenLogin(octokit())).toBe('github-actions[bot]');
  });
});
