/**
 * Bytes of request bodies held in memory, all requests together. A body is charged as it arrives
 * (all of its Content-Length at once when it has one, so an oversized burst is refused before a
 * byte of it is read) and released when its response has been sent.
 */
export class UploadBudget {
  private held = 0;
  private peak = 0;

  constructor(readonly limitBytes: number) {
    if (!(limitBytes >= 1)) throw new RangeError(`upload budget must be at least 1 byte, got ${limitBytes}`);
  }

  /** Charge `bytes` if they fit; false (nothing charged) if they do not. */
  tryCharge(bytes: number): boolean {
    if (this.held + bytes > this.limitBytes) return false;
    this.held += bytes;
    if (this.held > this.peak) this.peak = this.held;
    return true;
  }

  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }

  get heldBytes(): number {
    return this.held;
  }

  get peakBytes(): number {
    return this.peak;
  }
}

/** What one request has charged; released once, whichever of response or abort comes first. */
export class UploadCharge {
  private bytes = 0;
  private released = false;

  constructor(private readonly budget: UploadBudget) {}

  tryAdd(bytes: number): boolean {
    if (this.released) return false;
    if (!this.budget.tryCharge(bytes)) return false;
    this.bytes += bytes;
    return true;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.release(this.bytes);
    this.bytes = 0;
  }
}
