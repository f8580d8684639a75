import { errorMessage, loadConfig } from '@imagerec/shared';
import { prepareModel } from '../prepare-model.js';

const config = loadConfig();
try {
  const model = await prepareModel({
    ...config.model,
    log: (message) => console.log(message),
  });
  console.log(
    `model ready: ${model.onnxPath} (${model.labels.length} labels, source sha256 ${model.sourceSha256})`,
  );
} catch (err) {
  console.error(errorMessage(err));
  process.exitCode = 1;
}
