import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('the local stack exposes Redis and MongoDB on loopback only', () => {
  it.each([
    ['Redis', process.env.REDIS_PORT ?? '6390'],
    ['MongoDB (FerretDB)', process.env.MONGO_PORT ?? '27030'],
  ])('%s listens on 127.0.0.1 alone', async (_name, port) => {
    const { stdout } = await run('ss', ['-Hltn', `sport = :${port}`]);
    const addresses = stdout
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[3]);
    expect(addresses.length).toBeGreaterThan(0);
    expect(addresses).toEqual(addresses.map(() => `127.0.0.1:${port}`));
  });
});
