import { type PredictionRecord, PredictionStatus } from '@imagerec/shared';
import { describe, expect, it } from 'vitest';
import type { PendingJob } from '../jobs/job.service.js';
import { renderHistoryPage } from './history.page.js';

const createdAt = new Date('2026-01-02T03:04:05Z');
const upload = { filename: 'cat.png', width: 512, height: 341, format: 'png' } as const;
const record = (fields: Partial<PredictionRecord>): PredictionRecord => ({
  ...upload,
  jobId: 'job-1',
  status: PredictionStatus.Completed,
  sha256: 'ab'.repeat(32),
  byteSize: 1000,
  createdAt,
  finishedAt: createdAt,
  ...fields,
});
const pending: PendingJob = { ...upload, jobId: 'job-2', thumbnail: '', createdAt };
const predictions = [
  { index: 286, label: 'Egyptian cat', score: 0.62 },
  { index: 282, label: 'tiger cat', score: 0.2 },
  { index: 283, label: 'Persian <cat>', score: 0.1 },
];

/** The outcome of the first record's row (pending rows come first). */
const outcomeOf = (html: string) =>
  html.match(/data-job-id="job-1".*?<div class="outcome">(.*?)<\/div>/)?.[1];
const templateOf = (html: string, id: string) =>
  html.match(new RegExp(`<template id="${id}"[^>]*>(.*?)</template>`))?.[1];
/** The markup alone: no text, no values. */
const shape = (html = '') => html.replace(/>[^<]*</g, '><').replace(/value="[^"]*"/g, 'value=""');

describe('renderHistoryPage', () => {
  it("sends a finished row's outcome markup, empty, for the script to fill in pending rows", () => {
    for (const finished of [record({ predictions }), record({ error: 'Inference failed' })]) {
      const html = renderHistoryPage([finished], null, 20, [pending]);
      const outcome = outcomeOf(html);
      const template = templateOf(html, finished.error ? 'outcome-failed' : 'outcome-completed');
      expect(outcome).toBeTruthy();
      expect(shape(template)).toBe(shape(outcome));
    }
  });

  it('renders the outcome of a finished row with its text escaped', () => {
    const outcome = outcomeOf(renderHistoryPage([record({ predictions })], null, 20));
    expect(outcome).toContain('<span class="label">Egyptian cat</span>');
    expect(outcome).toContain('<meter min="0" max="1" value="0.6200">62.0%</meter>');
    expect(outcome).toContain('<p class="others">tiger cat 20.0%, Persian &#60;cat&#62; 10.0%</p>');
  });

  it('leaves the runners-up out when there are none', () => {
    const one = record({ predictions: predictions.slice(0, 1) });
    expect(outcomeOf(renderHistoryPage([one], null, 20))).not.toContain('others');
  });

  it('sends no templates when no row is pending', () => {
    expect(renderHistoryPage([record({ predictions })], null, 20)).not.toContain('<template');
  });
});
