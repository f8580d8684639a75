import { JobPriority, JobStatus, PredictionStatus } from '@imagerec/shared';
import { describe, expect, it } from 'vitest';
import { cachedRecord, newJob, type PreparedUpload, submittedJobs } from './submission.js';

const prepared = (id: string): PreparedUpload => ({
  id,
  filename: `${id}.png`,
  byteSize: 100,
  sha256: id.padEnd(64, '0'),
  image: {
    format: 'png',
    width: 4,
    height: 3,
    pixels: Buffer.alloc(12),
    thumbnail: Buffer.from('webp'),
  },
});
const opts = { topK: 5, priority: JobPriority.Bulk, requestId: 'req-1' };

describe('submission', () => {
  it('a cache answer is a completed record of the upload, timed from its acceptance', () => {
    const predictions = [{ index: 1, label: 'cat', score: 0.9 }];
    const record = cachedRecord(
      prepared('a'),
      predictions,
      { name: 'm', version: 'v' },
      1000,
      1250,
    );
    expect(record).toMatchObject({
      jobId: 'a',
      filename: 'a.png',
      byteSize: 100,
      width: 4,
      height: 3,
      format: 'png',
      status: PredictionStatus.Completed,
      predictions,
      cached: true,
      timings: { queuedMs: 0, inferenceMs: 0, totalMs: 250, batchSize: 0 },
    });
    expect(record.finishedAt).toEqual(new Date(1250));
  });

  it('a new job carries the upload, its thumbnail in base64 and only the options given', () => {
    const job = newJob(prepared('a'), opts, 'v', 1000);
    expect(job).toMatchObject({ id: 'a', priority: JobPriority.Bulk });
    expect(job.joinKey).toBeTruthy();
    expect(job.data).toEqual({
      upload: {
        filename: 'a.png',
        sha256: prepared('a').sha256,
        byteSize: 100,
        width: 4,
        height: 3,
        format: 'png',
      },
      thumbnail: Buffer.from('webp').toString('base64'),
      topK: 5,
      acceptedAt: 1000,
      requestId: 'req-1',
    });
  });

  it('answers each upload in order: cached, queued as itself, or the running job it joined', () => {
    const all = [prepared('cached'), prepared('own'), prepared('joiner')];
    const jobs = [
      newJob(all[1] as PreparedUpload, opts, 'v', 0),
      newJob(all[2] as PreparedUpload, opts, 'v', 0),
    ];
    expect(submittedJobs(all, jobs, ['own', 'running'])).toEqual([
      { id: 'cached', status: JobStatus.Completed },
      { id: 'own', status: JobStatus.Queued, data: jobs[0]?.data },
      { id: 'running', status: JobStatus.Queued },
    ]);
  });
});
