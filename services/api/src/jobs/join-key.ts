import type { JobPriority } from '@imagerec/shared';

export interface JoinKeyParts {
  sha256: string;
  modelVersion: string;
  topK: number;
  priority: JobPriority;
  /** Set for a synchronous predict: such a job expires when nobody waits for it any more. */
  deadline?: number;
}

/**
 * Which running job an upload may join: the same bytes, model version and topK, in the same lane.
 * Lanes keep a bulk upload from joining a predict's job, which expires with its caller's timeout,
 * and a predict from waiting behind the bulk backlog for a bulk job.
 */
export function joinKey({ sha256, modelVersion, topK, priority, deadline }: JoinKeyParts): string {
  const lane = deadline === undefined ? `p${priority}` : 'sync';
  return `${lane}:${modelVersion}:${topK}:${sha256}`;
}
