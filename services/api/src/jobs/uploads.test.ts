import { describe, expect, it } from 'vitest';
import { cleanFilename } from './uploads.js';

describe('cleanFilename', () => {
  it.each([
    ['cat.png', 'cat.png'],
    ['../../etc/passwd.png', 'passwd.png'],
    ['C:\\Users\\me\\cat.jpg', 'cat.jpg'],
    ['a\u0000b\nc\u001b[31m.png', 'abc[31m.png'],
    ['猫 🐱.png', '猫 🐱.png'],
    ['e\u0301.png', '\u00e9.png'],
    ['', 'upload'],
    [undefined, 'upload'],
    ['dir/..', 'upload'],
    ['\u0007', 'upload'],
  ])('%j -> %j', (name, expected) => {
    expect(cleanFilename(name)).toBe(expected);
  });

  it('keeps at most 255 characters, never splitting one', () => {
    const long = `${'🐱'.repeat(300)}.png`;
    const clean = cleanFilename(long);
    expect([...clean]).toHaveLength(255);
    expect(clean).toBe('🐱'.repeat(255));
  });
});
