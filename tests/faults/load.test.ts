import { randomBytes } from 'node:crypto';
import { EXPIRED_REASON } from '@imagerec/shared';
import mongoose, { type Connection } from 'mongoose';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartBody } from '../support/multipart.js';
import { NGINX_URL } from '../support/stack.js';

/** LOAD_UPLOADS (default 5000) uploads from LOAD_CLIENTS (default 64) clients through nginx. */
const UPLOADS = Number(process.env.LOAD_UPLOADS ?? 5000);
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 64);
const log = (msg: string) => process.stdout.write(`[load] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  path: string;
  status: number;
  id?: string;
}

describe(`${UPLOADS} uploads from ${CLIENTS} concurrent clients through nginx`, () => {
  let mongo: Connection;
  beforeAll(async () => {
    mongo = await mongoose
      .createConnection(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27030/imagerec-e2e')
      .asPromise();
  });
  afterAll(() => mongo.close());

  it('every job that got 200 or 202 ends completed, one MongoDB document per job id', async () => {
    const predictions = mongo.collection<{ _id: string; status: string; error?: string }>(
      'predictions',
    );
    const docsBefore = await predictions.countDocuments();
    const outcomes: Outcome[] = [];
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = next++; i < UPLOADS; i = next++) {
          // Half wait for the answer, half queue a job; each picture is new to the cache.
          const path = i % 2 === 0 ? '/v1/predict?timeoutMs=60000' : '/v1/jobs';
          const bytes = await sharp(randomBytes(24 * 24 * 3), {
            raw: { width: 24, height: 24, channels: 3 },
          })
            .png()
            .toBuffer();
          const { payload, headers } = await multipartBody([{ filename: `l${i}.png`, bytes }]);
          const res = await fetch(`${NGINX_URL}${path}`, {
            method: 'POST',
            body: payload,
            headers,
          });
          const body = (await res.json()) as { id?: string; jobs?: { id: string }[] };
          outcomes.push({ path, status: res.status, id: body.id ?? body.jobs?.[0]?.id });
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const count = (f: (o: Outcome) => boolean) => outcomes.filter(f).length;
    log(
      `${UPLOADS} uploads in ${seconds.toFixed(1)} s (${(UPLOADS / seconds).toFixed(0)}/s): ` +
        `${count((o) => o.status === 200)} x 200, ${count((o) => o.status === 202)} x 202, ` +
        `${count((o) => o.status === 503)} x 503, ${count((o) => ![200, 202, 503].includes(o.status))} other`,
    );
    expect(outcomes).toHaveLength(UPLOADS);
    expect(outcomes.filter((o) => ![200, 202, 503].includes(o.status))).toEqual([]);

    const accepted = outcomes.filter((o) => o.status === 200 || o.status === 202);
    const ids = accepted.map((o) => o.id as string);
    expect(new Set(ids).size).toBe(ids.length);
    // A sync predict that ran out of time (202) may be skipped as expired, by design.
    const mayExpire = new Set(
      accepted.filter((o) => o.status === 202 && o.path.startsWith('/v1/predict')).map((o) => o.id),
    );
    const wanted = new Set(ids);
    let docs: { _id: string; status: string; error?: string }[] = [];
    for (let i = 0; i < 600; i++) {
      docs = (
        await predictions.find({}, { projection: { _id: 1, status: 1, error: 1 } }).toArray()
      ).filter((d) => wanted.has(d._id));
      if (docs.length === ids.length) break;
      await sleep(1000);
    }
    const expired = docs.filter((d) => d.error === EXPIRED_REASON);
    log(
      `${docs.length} documents for ${ids.length} accepted jobs; ${expired.length} expired sync jobs`,
    );
    expect(docs).toHaveLength(ids.length);
    expect(new Set(docs.map((d) => d._id)).size).toBe(ids.length);
    for (const d of docs) {
      if (d.status !== 'completed') {
        expect(mayExpire.has(d._id), `${d._id}: ${d.error}`).toBe(true);
        expect(d.error).toBe(EXPIRED_REASON);
      }
    }
    expect(await predictions.countDocuments()).toBe(docsBefore + ids.length);
  }, 1_200_000);
});
