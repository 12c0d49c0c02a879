// Where short-lived files that many small writes make go: /dev/shm when it is a tmpfs with room
// to spare, else the temp directory. Creating a thousand files on a disk's filesystem (a journal)
// takes three to four times what it takes on tmpfs. An explicit TMPDIR is always obeyed.

import { statfsSync } from 'node:fs';
import os from 'node:os';

/** A tmpfs is used when it has this much free, as for the embedded server's data directory. */
export const MEMORY_STORAGE_MIN_BYTES = 1024 ** 3;
const TMPFS_MAGIC = 0x01021994;
export const SHM = '/dev/shm';

/** Free bytes on /dev/shm when it is a tmpfs, else undefined. */
export function tmpfsFreeBytes(dir: string = SHM): number | undefined {
  try {
    const stats = statfsSync(dir);
    return stats.type === TMPFS_MAGIC ? stats.bavail * stats.bsize : undefined;
  } catch {
    return undefined;
  }
}

/** The folder for temporary files: TMPDIR when set, else a roomy tmpfs, else the temp directory. */
export function fastTempRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TMPDIR !== undefined && env.TMPDIR !== '') return os.tmpdir();
  return (tmpfsFreeBytes() ?? 0) >= MEMORY_STORAGE_MIN_BYTES ? SHM : os.tmpdir();
}
