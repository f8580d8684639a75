import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ClassifyJobData,
  DEFAULT_MAX_PIXELS,
  JobPriority,
  type NewClassifyJob,
  prepareUpload,
} from '@imagerec/shared';
import { IMAGES_DIR } from './shared-files.js';

const uploads = new Map<string, Promise<Omit<NewClassifyJob, 'id'>>>();

/** A job as the API would enqueue it, from a real image preprocessed the API's way. */
export async function imageJob(
  file: string,
  id: string = randomUUID(),
  extra: Partial<ClassifyJobData> = {},
): Promise<NewClassifyJob> {
  let upload = uploads.get(file);
  if (!upload) {
    upload = (async () => {
      const bytes = await readFile(join(IMAGES_DIR, file));
      const image = await prepareUpload(bytes, { maxPixels: DEFAULT_MAX_PIXELS });
      const data: ClassifyJobData = {
        upload: {
          filename: file,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          byteSize: bytes.length,
          width: image.width,
          height: image.height,
          format: image.format,
        },
        thumbnail: image.thumbnail.toString('base64'),
        topK: 5,
        acceptedAt: Date.now(),
      };
      return { data, pixels: image.pixels, priority: JobPriority.Interactive };
    })();
    uploads.set(file, upload);
  }
  const { data, ...rest } = await upload;
  return { id, ...rest, data: { ...data, acceptedAt: Date.now(), ...extra } };
}
