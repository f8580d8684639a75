import { availableParallelism } from 'node:os';
import { type JobPriority, type PreparedImage, prepareUpload } from '@imagerec/shared';
import PQueue from 'p-queue';

/**
 * Uploads decoded at once: two a core, so that one image's JavaScript steps overlap another's
 * libvips steps. The rest wait as bytes, in order of arrival (interactive before bulk), rather
 * than all decoding together, each request's pixels held until its last image is done.
 */
const DECODES_AT_ONCE = 2 * availableParallelism();

/** The API's decoding of uploads, a few at a time, interactive ones first. */
export class DecodeQueue {
  private readonly queue = new PQueue({ concurrency: DECODES_AT_ONCE });

  constructor(private readonly maxPixels: number) {}

  decode(bytes: Buffer, priority: JobPriority): Promise<PreparedImage> {
    const { maxPixels } = this;
    // p-queue runs the highest number first; BullMQ serves the lowest first.
    return this.queue.add(() => prepareUpload(bytes, { maxPixels }), { priority: -priority });
  }
}
