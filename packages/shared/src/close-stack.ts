/**
 * What a service has started, released in reverse order: a thing closes before what it was
 * built on. Also for a start-up that fails half-way, which closes what it had started.
 */
export class CloseStack {
  private readonly closers: (() => unknown)[] = [];

  /** Registers the closing of something just started. */
  defer(close: () => unknown): void {
    this.closers.push(close);
  }

  /** `resource`, with its closing registered: `const x = stack.adopt(await start(), (x) => x.close())`. */
  adopt<T>(resource: T, close: (resource: T) => unknown): T {
    this.defer(() => close(resource));
    return resource;
  }

  /**
   * Runs every closer once, last registered first. One that fails does not keep the others from
   * running; the first failure is thrown once they all have.
   */
  async close(): Promise<void> {
    const errors: unknown[] = [];
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}
