import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareModel } from '@imagerec/model';
import { MODEL_PRECISIONS, MODEL_SPEC, type Prediction, toModelInput } from '@imagerec/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Classifier } from '../src/inference/classifier.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const shared = join(repo, '..', 'shared');
const imagesDir = join(shared, 'images');
const FILES = ['cat.png', 'cat.bmp', 'grace_hopper.png', 'parrot.jpg', 'cat_720p.jpg', 'face.jpg'];
/** tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat. */
const CAT_CLASSES = [282, 283, 284, 285, 286];

describe.each(MODEL_PRECISIONS)('Classifier on the real model, %s', (precision) => {
  let classifier: Classifier;
  let labels: string[];
  const pixels = new Map<string, Buffer>();
  const single = new Map<string, Prediction[]>();

  beforeAll(async () => {
    const model = await prepareModel({
      dir: join(repo, 'models'),
      mirrorDir: process.env.MODEL_MIRROR_DIR || join(shared, 'models'),
      precision,
    });
    labels = model.labels;
    classifier = await Classifier.create({ ...model, intraOpThreads: 2 });
    for (const file of FILES) {
      const input = await toModelInput(await readFile(join(imagesDir, file)));
      pixels.set(file, input);
      const [predictions] = await classifier.classify([input], 5);
      single.set(file, predictions ?? []);
    }
  });

  afterAll(async () => {
    await classifier?.close();
  });

  const top = (file: string) => single.get(file) ?? [];
  const top3 = (file: string) =>
    top(file)
      .slice(0, 3)
      .map((p) => p.index);

  it('knows the cat classes by name', () => {
    expect(CAT_CLASSES.map((i) => labels[i])).toEqual([
      'tabby, tabby cat',
      'tiger cat',
      'Persian cat',
      'Siamese cat, Siamese',
      'Egyptian cat',
    ]);
  });

  it('cat.png: Egyptian cat (286) first with p >= 0.7', () => {
    expect(top('cat.png')[0]).toMatchObject({ index: 286, label: 'Egyptian cat' });
    expect(top('cat.png')[0]?.score).toBeGreaterThanOrEqual(0.7);
  });

  it('cat.bmp: the same answer as cat.png', () => {
    expect(top('cat.bmp')[0]).toMatchObject({ index: 286, label: 'Egyptian cat' });
    expect(top('cat.bmp')[0]?.score).toBeGreaterThanOrEqual(0.7);
  });

  it('grace_hopper.png: military uniform (653) in the top 3', () => {
    expect(top3('grace_hopper.png')).toContain(653);
  });

  it('parrot.jpg: macaw (89) in the top 3', () => {
    expect(top3('parrot.jpg')).toContain(89);
  });

  it('cat_720p.jpg: a cat class in the top 3', () => {
    expect(top3('cat_720p.jpg').some((i) => CAT_CLASSES.includes(i))).toBe(true);
  });

  it('face.jpg: no confident answer (top-1 below 0.15)', () => {
    expect(top('face.jpg')[0]?.score).toBeLessThan(0.15);
  });

  it('returns k predictions, best first, never background', () => {
    for (const file of FILES) {
      const predictions = top(file);
      expect(predictions).toHaveLength(5);
      expect(predictions.some((p) => p.index === 0)).toBe(false);
      const scores = predictions.map((p) => p.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
    }
  });

  it('a batch of all images gives the one-by-one results', async () => {
    const batch = await classifier.classify(
      FILES.map((f) => pixels.get(f) ?? Buffer.alloc(0)),
      5,
    );
    FILES.forEach((file, i) => {
      const alone = top(file);
      const together = batch[i] ?? [];
      expect(together[0]?.index, file).toBe(alone[0]?.index);
      together.forEach((p, j) => {
        expect(Math.abs(p.score - (alone[j]?.score ?? 0)), file).toBeLessThanOrEqual(1e-4);
      });
    });
  });

  it('refuses an image of the wrong size', async () => {
    await expect(classifier.classify([new Uint8Array(10)], 5)).rejects.toThrow(
      `expected ${MODEL_SPEC.inputBytes}`,
    );
  });
});
