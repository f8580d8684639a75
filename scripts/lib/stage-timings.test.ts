import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const lib = fileURLToPath(new URL('./stage-timings.sh', import.meta.url));
const script = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');

describe('stage timings (scripts/test, scripts/test-compose)', () => {
  it("lists each stage's seconds and the total, also when a stage fails", () => {
    const run = spawnSync(
      'bash',
      [
        '-c',
        `set -euo pipefail; say() { echo "[t] $*"; }; source '${lib}'; trap print_timings EXIT
         stage first; sleep 1; stage second; false; stage never`,
      ],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(1);
    const rows = run.stdout.split('\n').filter((l) => /^ {2}\S/.test(l));
    expect(rows.map((r) => r.trim().split(/\s+/)[0])).toEqual(['first', 'second', 'total']);
    const seconds = rows.map((r) => Number(/(\d+)s$/.exec(r)?.[1]));
    expect(seconds[0]).toBeGreaterThanOrEqual(1);
    expect(seconds[2]).toBeGreaterThanOrEqual(seconds[0] ?? 0);
  });

  it('is what both test scripts use, printed on exit', () => {
    for (const name of ['test', 'test-compose']) {
      const text = script(name);
      expect(text, name).toContain('source "$ROOT/scripts/lib/stage-timings.sh"');
      // scripts/test traps it directly, test-compose from its teardown (its EXIT trap).
      expect(text, name).toMatch(/trap '?(stop_all; )?print_timings|^ {2}print_timings$/m);
      expect(text.match(/^stage "/gm)?.length ?? 0, name).toBeGreaterThanOrEqual(4);
    }
    expect(
      execFileSync('bash', ['-n', fileURLToPath(new URL('../test', import.meta.url))]),
    ).toHaveLength(0);
  });
});
