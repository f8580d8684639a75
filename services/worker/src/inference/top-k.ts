import type { Prediction } from '@imagerec/shared';

/** Class 0 of the ImageNet labels is 'background', never an answer. */
const BACKGROUND = 0;

/** The k most probable classes of one image, best first, without the background class. */
export function topK(
  probabilities: ArrayLike<number>,
  labels: readonly string[],
  k: number,
): Prediction[] {
  const best: Prediction[] = [];
  if (k <= 0) return best;
  for (let index = BACKGROUND + 1; index < probabilities.length; index++) {
    const score = probabilities[index] ?? 0;
    if (best.length === k && score <= (best.at(-1)?.score ?? 0)) continue;
    // Insertion into a short sorted list; earlier indexes win ties.
    let at = best.length;
    while (at > 0 && (best[at - 1]?.score ?? 0) < score) at--;
    best.splice(at, 0, { index, label: labels[index] ?? `class ${index}`, score });
    if (best.length > k) best.pop();
  }
  return best;
}
