import { modelInfo, viewFromRecord } from '@imagerec/shared';
import { describe, expect, it } from 'vitest';
import { data, job, setup } from './classify.processor.test-helper.js';

describe('ClassifyProcessor: webhooks', () => {
  it('queues the webhooks of finished jobs that carry a callback URL, with their stored views', async () => {
    const t = setup();
    const hooked = { ...data(2), callbackUrl: 'https://example.com/hook', requestId: 'r1' };
    t.withPixels('with');
    t.withPixels('without');
    t.withPixels('bad', 10);
    await Promise.all([
      t.processor.process(job('with', hooked)),
      t.processor.process(job('without')),
      expect(t.processor.process(job('bad', hooked, 2, 3))).rejects.toThrow(),
    ]);
    const deliveries = t.webhooks.enqueue.mock.calls.flatMap(([d]) => d);
    // Each carries the view GET /v1/jobs/:id answers from the stored record.
    const storedView = (id: string) => {
      const record = t.stored.find((r) => r.jobId === id);
      return record && viewFromRecord(record, 2, modelInfo('int8'));
    };
    expect(deliveries.sort((a, b) => a.jobId.localeCompare(b.jobId))).toEqual(
      ['bad', 'with'].map((jobId) => ({
        jobId,
        callbackUrl: 'https://example.com/hook',
        topK: 2,
        requestId: 'r1',
        view: storedView(jobId),
      })),
    );
    expect(deliveries.map((d) => [d.view?.status, d.view?.predictions?.length])).toEqual([
      ['failed', undefined],
      ['completed', 2],
    ]);
    // Queued only once the result it announces is stored.
    expect(t.upsertMany.mock.invocationCallOrder[0]).toBeLessThan(
      t.webhooks.enqueue.mock.invocationCallOrder[0] ?? 0,
    );
  });

  it('fails the batch, to be retried, when its webhooks cannot be queued', async () => {
    const t = setup();
    t.webhooks.enqueue.mockRejectedValueOnce(new Error('redis down'));
    t.withPixels('a');
    await expect(
      t.processor.process(job('a', { ...data(), callbackUrl: 'https://example.com/h' })),
    ).rejects.toThrow('redis down');
    expect(t.pixels.has('a')).toBe(true);
  });
});
