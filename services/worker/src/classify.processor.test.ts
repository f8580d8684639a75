import { EXPIRED_REASON, modelInfo, PredictionStatus } from '@imagerec/shared';
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it, vi } from 'vitest';
import { data, job, setup } from './classify.processor.test-helper.js';

describe('ClassifyProcessor', () => {
  it('answers a redelivered job from its stored result instead of failing it', async () => {
    const t = setup();
    t.withPixels('j1');
    const first = await t.processor.process(job('j1'));
    expect(t.pixels.has('j1')).toBe(false);
    // The lock was lost before completion: BullMQ delivers the job again, its pixels gone.
    await expect(t.processor.process(job('j1'))).resolves.toEqual(first);
    expect(t.classify).toHaveBeenCalledTimes(1);
    expect(t.stored.filter((r) => r.jobId === 'j1').map((r) => r.status)).toEqual(['completed']);
  });

  it('classifies a batch in one call, stores it in one write, then deletes the pixels', async () => {
    const t = setup();
    t.withPixels('a');
    t.withPixels('b');
    const [a, b] = await Promise.all([
      t.processor.process(job('a', data(2))),
      t.processor.process(job('b', data(3))),
    ]);

    expect(t.classify).toHaveBeenCalledTimes(1);
    expect(t.classify.mock.calls[0]?.[1]).toBe(3);
    expect(a?.predictions).toHaveLength(2);
    expect(b?.predictions.map((p) => p.index)).toEqual([10, 11, 12]);
    expect(a).toMatchObject({
      model: modelInfo('int8'),
      cached: false,
      processedBy: 'host:1',
      timings: { inferenceMs: 12, batchSize: 2 },
    });
    expect(a?.timings.queuedMs).toBeGreaterThanOrEqual(100);
    expect(a?.timings.totalMs).toBeGreaterThanOrEqual(a?.timings.queuedMs ?? 0);

    expect(t.upsertMany).toHaveBeenCalledTimes(1);
    expect(t.stored.map((r) => r.jobId)).toEqual(['a', 'b']);
    expect(t.stored[0]).toMatchObject({
      status: PredictionStatus.Completed,
      filename: 'cat.png',
      thumbnail: Buffer.from('thumb'),
      predictions: a?.predictions,
    });
    expect(t.pixelStore.deleteMany).toHaveBeenCalledWith(['a', 'b']);
    expect(t.pixels.size).toBe(0);
  });

  it('does not complete a job before its result is stored', async () => {
    let release = () => {};
    const t = setup({ upsertMany: () => new Promise<void>((r) => (release = r)) });
    t.withPixels('a');
    let done = false;
    const processing = t.processor.process(job('a')).then(() => {
      done = true;
    });
    await vi.waitFor(() => expect(t.upsertMany).toHaveBeenCalled());
    expect(done).toBe(false);
    release();
    await processing;
    expect(done).toBe(true);
  });

  it('fails a job with missing pixels for good and records the failure', async () => {
    const t = setup();
    const err = await t.processor.process(job('gone')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect(t.classify).not.toHaveBeenCalled();
    expect(t.stored).toEqual([
      expect.objectContaining({
        jobId: 'gone',
        status: PredictionStatus.Failed,
        error: expect.stringMatching(/missing/),
      }),
    ]);
    expect(t.pixelStore.deleteMany).toHaveBeenCalledWith(['gone']);
  });

  it('fails a job whose pixels have the wrong length for good', async () => {
    const t = setup();
    t.withPixels('short', 100);
    await expect(t.processor.process(job('short'))).rejects.toBeInstanceOf(UnrecoverableError);
    expect(t.stored[0]?.error).toMatch(/100 bytes/);
  });

  it('rejects the whole batch with a retryable error when storing fails, keeping the pixels', async () => {
    const t = setup({
      upsertMany: async () => {
        throw new Error('connection refused');
      },
    });
    t.withPixels('a');
    t.withPixels('b');
    const errors = await Promise.all(
      ['a', 'b'].map((id) => t.processor.process(job(id)).catch((e: unknown) => e)),
    );
    for (const err of errors) {
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(UnrecoverableError);
      expect((err as Error).message).toMatch(/connection refused/);
    }
    // One batch write failed; no failure record on an attempt that will be retried.
    expect(t.upsertMany).toHaveBeenCalledTimes(1);
    expect(t.pixels.size).toBe(2);
  });

  it('records the failure when the last attempt fails', async () => {
    const t = setup();
    t.withPixels('a');
    t.classify.mockRejectedValueOnce(new Error('thread crashed'));
    await expect(t.processor.process(job('a', data(), 2, 3))).rejects.toThrow('thread crashed');
    expect(t.stored).toEqual([
      expect.objectContaining({
        jobId: 'a',
        status: PredictionStatus.Failed,
        error: 'thread crashed',
      }),
    ]);
    expect(t.pixels.size).toBe(0);
  });

  it('observes each batch: size, inference time, wait since acceptance, images, store time', async () => {
    const t = setup();
    for (const id of ['a', 'b', 'c']) t.withPixels(id);
    await Promise.all(['a', 'b', 'c'].map((id) => t.processor.process(job(id))));

    const value = async (
      metric: {
        get(): Promise<{ values: { value: number; metricName?: string; labels: object }[] }>;
      },
      name?: string,
    ) => (await metric.get()).values.find((v) => name === undefined || v.metricName === name);
    expect((await value(t.metrics.batchSize, 'imagerec_batch_size_sum'))?.value).toBe(3);
    expect((await value(t.metrics.batchSize, 'imagerec_batch_size_count'))?.value).toBe(1);
    expect(
      (await value(t.metrics.inferenceDuration, 'imagerec_inference_duration_seconds_sum'))?.value,
    ).toBeCloseTo(0.012);
    const waited = await value(t.metrics.jobWait, 'imagerec_job_wait_seconds_sum');
    expect(waited?.value).toBeGreaterThanOrEqual(0.3);
    expect((await value(t.metrics.jobWait, 'imagerec_job_wait_seconds_count'))?.value).toBe(3);
    expect(await value(t.metrics.imagesClassified)).toMatchObject({
      value: 3,
      labels: { precision: 'int8' },
    });
    expect(
      (await value(t.metrics.mongoWriteDuration, 'imagerec_mongo_write_duration_seconds_count'))
        ?.value,
    ).toBe(1);
  });

  it('skips a job whose deadline has passed: no inference, failed for good as expired', async () => {
    const t = setup();
    t.withPixels('late');
    t.withPixels('on-time');
    const late = t.processor
      .process(job('late', { ...data(), deadline: Date.now() - 1 }))
      .catch((e: unknown) => e);
    const onTime = t.processor.process(
      job('on-time', { ...data(), deadline: Date.now() + 60_000 }),
    );
    expect(await late).toBeInstanceOf(UnrecoverableError);
    expect((await onTime).predictions).toHaveLength(3);
    expect(t.classify).toHaveBeenCalledTimes(1);
    expect(t.classify.mock.calls[0]?.[0]).toHaveLength(1);
    expect(t.processor.expired).toBe(1);
    expect(t.stored).toContainEqual(
      expect.objectContaining({
        jobId: 'late',
        status: PredictionStatus.Failed,
        error: EXPIRED_REASON,
      }),
    );
    expect(t.pixels.size).toBe(0);
  });
});
