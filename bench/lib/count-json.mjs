// Preloaded (node --import) into the stack's API and worker processes for the accounting pass:
// counts JSON.stringify and JSON.parse calls and the characters they write or read, and writes
// the running totals to JSON_COUNT_DIR/<pid>-<thread>.json twice a second for it to read.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';

const counts = { stringify: 0, stringifyChars: 0, parse: 0, parseChars: 0 };
const { stringify, parse } = JSON;
JSON.stringify = function countedStringify(...args) {
  const text = stringify.apply(this, args);
  counts.stringify++;
  counts.stringifyChars += text?.length ?? 0;
  return text;
};
JSON.parse = function countedParse(text, reviver) {
  counts.parse++;
  counts.parseChars += text?.length ?? 0;
  return parse.call(this, text, reviver);
};

const file = join(process.env.JSON_COUNT_DIR, `${process.pid}-${threadId}.json`);
setInterval(() => writeFileSync(file, stringify(counts)), 500).unref();
