import { PAGE_SIZE, type Hfn, type Hpa, hfn } from '../arch/address.js';

/**
 * The host arena: all "host physical" memory of a VM in one ArrayBuffer. Guest RAM pages and every
 * page-table page an MMU builds live here, so the emulated hardware walks SPTEs by reading memory
 * like a real CPU, and a freed page is reused like a real page.
 *
 * Pages are handed out by a LIFO free list so runs are deterministic.
 */
export class Arena {
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly pages: number;
  private readonly freeList: number[] = [];
  private nextUnused = 0;

  constructor(sizeBytes: number) {
    if (sizeBytes % PAGE_SIZE !== 0) throw new Error('arena size must be a multiple of 4 KiB');
    this.buffer = new ArrayBuffer(sizeBytes);
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.pages = sizeBytes / PAGE_SIZE;
  }

  /** Reserves `count` contiguous never-used pages (for guest RAM at VM creation). */
  reserveContiguous(count: number): Hfn {
    if (this.nextUnused + count > this.pages) throw new ArenaExhausted(count);
    const first = this.nextUnused;
    this.nextUnused += count;
    return hfn(first);
  }

  /** Allocates one zeroed page (for MMU page tables). */
  allocPage(): Hfn {
    let page: number;
    if (this.freeList.length > 0) page = this.freeList.pop()!;
    else if (this.nextUnused < this.pages) page = this.nextUnused++;
    else throw new ArenaExhausted(1);
    this.bytes.fill(0, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    return hfn(page);
  }

  freePage(page: Hfn): void {
    this.freeList.push(page);
  }

  get pagesInUse(): number {
    return this.nextUnused - this.freeList.length;
  }

  readU64(addr: Hpa): bigint {
    return this.view.getBigUint64(addr, true);
  }
}

export class ArenaExhausted extends Error {
  constructor(wanted: number) {
    super(`host arena exhausted (wanted ${wanted} page(s))`);
  }
}
