import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { failedRecord } from '@imagerec/test-support/records';
import { REPO_ROOT, testConfig } from '@imagerec/test-support/test-config';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PredictionRepository } from '../src/index.js';

const SQLITE_DIR = process.env.FERRETDB_SQLITE_DIR;

/**
 * The SQLite plan FerretDB reports for a lookup by _id. A real query goes first: EXPLAIN alone
 * does not make a pooled SQLite connection notice an index created by another process.
 */
async function planOfIdLookup(url: string): Promise<string> {
  const connection = await mongoose.createConnection(url).asPromise();
  try {
    await connection.db?.collection('predictions').findOne({ _id: 'job-1' as never });
    const explained = await connection.db?.command({
      explain: { find: 'predictions', filter: { _id: 'job-1' } },
    });
    return JSON.stringify(explained?.queryPlanner);
  } finally {
    await connection.close();
  }
}

// scripts/test names the FerretDB data directory; against MongoDB there is nothing to check.
describe.runIf(SQLITE_DIR)('FerretDB set-up: lookups by _id use an index', () => {
  const config = testConfig();
  let repo: PredictionRepository;
  beforeAll(async () => {
    repo = await PredictionRepository.connect(config);
    await repo.upsertMany([failedRecord('job-1', { filename: 'a.png' })]);
  });
  afterAll(async () => {
    await repo.dropDatabase();
    await repo.close();
  });

  it('scans without the set-up index, and searches the index once it exists', async () => {
    // Should FerretDB's own _id index start serving this lookup, the set-up index can go.
    expect(await planOfIdLookup(config.mongo.url)).toMatch(/SCAN predictions_/);
    const { stdout } = await promisify(execFile)('python3', [
      `${REPO_ROOT}scripts/lib/ferretdb-indexes.py`,
      SQLITE_DIR as string,
    ]);
    expect(stdout).toMatch(/[1-9]\d* index\(es\) created/);
    expect(await planOfIdLookup(config.mongo.url)).toMatch(
      /SEARCH predictions_\w+ USING INDEX predictions_\w+_id_pushdown/,
    );
    expect((await repo.findByJobId('job-1'))?.filename).toBe('a.png');
  });
});
