import { describe, expect, it } from 'vitest';
import { CloseStack } from './close-stack.js';

describe('CloseStack', () => {
  it('closes in reverse order of registration, each closer awaited before the next', async () => {
    const stack = new CloseStack();
    const order: string[] = [];
    stack.defer(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push('first');
    });
    stack.defer(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      order.push('second');
    });
    stack.defer(() => order.push('third'));
    await stack.close();
    expect(order).toEqual(['third', 'second', 'first']);
  });

  it('adopt returns the resource and closes it with the function given', async () => {
    const stack = new CloseStack();
    const closed: number[] = [];
    const resource = stack.adopt({ id: 7 }, (r) => closed.push(r.id));
    expect(resource).toEqual({ id: 7 });
    await stack.close();
    expect(closed).toEqual([7]);
  });

  it('runs every closer when one fails, then throws the first failure', async () => {
    const stack = new CloseStack();
    const order: string[] = [];
    stack.defer(() => order.push('first'));
    stack.defer(() => {
      throw new Error('second failed');
    });
    stack.defer(async () => {
      order.push('third');
      throw new Error('third failed');
    });
    await expect(stack.close()).rejects.toThrow('third failed');
    expect(order).toEqual(['third', 'first']);
  });

  it('closes each thing once: a second close has nothing left to run', async () => {
    const stack = new CloseStack();
    let closes = 0;
    stack.defer(() => closes++);
    await stack.close();
    await stack.close();
    expect(closes).toBe(1);
  });
});
