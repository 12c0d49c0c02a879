// Many files' contents at a commit from one `git cat-file --batch`: sizes are bytes (multi-byte
// text), names may hold spaces, a file missing at that commit is absent, and the contents are those
// of the commit, not of the working tree.

import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { filesContentAt } from '../../src/git/git.js';
import { gitIn, makeTempDir, removeDir, writeTree } from '../helpers.js';

const tmp = makeTempDir('dg-catfile-');
afterAll(() => removeDir(tmp));

describe('filesContentAt', () => {
  it('reads each file as committed, bytes and all; missing files are absent', async () => {
    const dir = path.join(tmp, 'repo');
    const git = gitIn(dir);
    const files = { 'Migrations/1_Init.cs': 'class Init {}\n', 'Migrations/2 Two words.cs': 'größe → ü\n\n', 'Migrations/3_Empty.cs': '' };
    writeTree(dir, files);
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-qm', 'base');
    const base = git('rev-parse', 'HEAD').trim();
    writeTree(dir, { 'Migrations/1_Init.cs': 'changed later\n' });
    git('commit', '-qam', 'later');
    const read = await filesContentAt(base, [...Object.keys(files), 'Migrations/4_Missing.cs'], dir);
    expect(Object.fromEntries(read)).toEqual(files);
  });
});
