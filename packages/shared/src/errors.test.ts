import { describe, expect, it } from 'vitest';
import { AppError, errorMessage } from './errors.js';

describe('errorMessage', () => {
  it("is an Error's own message", () => {
    expect(errorMessage(new TypeError('bad type'))).toBe('bad type');
    expect(errorMessage(new AppError('NOT_FOUND'))).toBe('Not found');
  });

  it('is anything else thrown as text', () => {
    expect(errorMessage('plain string')).toBe('plain string');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
  });
});
