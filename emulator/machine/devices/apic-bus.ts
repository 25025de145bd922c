/**
 * The APIC bus (the system bus of SDM 11.6): joins the local APICs of every CPU and carries the
 * interrupt messages an ICR write, the IOAPIC or (later) an MSI sends, to the destination set the
 * message names. Delivery is instant, so a sender's delivery-status bit always reads 0.
 *
 * Who is named (KVM's kvm_apic_match_dest and kvm_apic_mda, which follow SDM 11.6.2):
 *   shorthand  self / all including self / all excluding self; the destination field is ignored
 *   physical   the APIC ID: 8 bits against the xAPIC ID, 32 against the x2APIC ID; 0xFF (xAPIC)
 *              and 0xFFFFFFFF (x2APIC) are broadcasts
 *   logical    xAPIC flat (DFR 0xFFFFFFFF: any common bit with LDR[31:24]) or cluster (DFR
 *              0x0FFFFFFF: same high nibble and a common low bit); x2APIC: the same cluster
 *              (bits 31:16) and a common bit in the 16-bit mask
 * A destination is compared in the format of the target's mode, as KVM does: an 8-bit
 * destination from the IOAPIC (or an xAPIC-mode sender) reaches an x2APIC-mode APIC as that
 * number, except that the IOAPIC's 0xFF still broadcasts (KVM's x2APIC broadcast quirk).
 * Hardware-disabled APICs hear nothing.
 *
 * Lowest priority (SDM 11.6.2.4 leaves the choice among the named CPUs to the platform): the
 * (vector mod n)-th of the n software-enabled APICs named, in APIC-ID order. That is KVM's rule
 * with its default vector_hashing=1 (kvm_vector_to_index in kvm_irq_delivery_to_apic), so a
 * guest sees the CPU it would see under KVM; it depends only on the message and the destination
 * set, never on when the message is sent relative to TPR and ISR changes. Like KVM, a physical
 * lowest-priority message to 0xFF goes to everyone as a fixed one. (KVM's fast path, through its
 * logical-ID map, counts candidates in LDR-bit order, the same order whenever LDR bits follow
 * APIC IDs as Linux and kvm-unit-tests set them, and does not skip software-disabled APICs, so
 * an interrupt it hands one is lost; this is its slow path, which skips them.)
 *
 * INIT with trigger=level and level=0 (the old INIT level de-assert) is dropped, as current
 * processors and KVM do (SDM 11.6.1).
 */

export const enum DeliveryMode { FIXED = 0, LOWEST = 1, SMI = 2, NMI = 4, INIT = 5, STARTUP = 6, EXTINT = 7 }
export const enum Shorthand { NONE = 0, SELF = 1, ALL_INCLUDING_SELF = 2, ALL_EXCLUDING_SELF = 3 }

/** The xAPIC broadcast destination; the x2APIC one is 0xFFFFFFFF. */
export const XAPIC_BROADCAST = 0xff;
export const X2APIC_BROADCAST = 0xffffffff;

/** Largest xAPIC ID a CPU can have: 0xFF is the broadcast destination. */
export const MAX_APIC_ID = 0xfe;

/** A message from the IOAPIC (or, later, an MSI): what SDM 11.6.1 calls an interrupt message. */
export interface InterruptMessage {
  readonly vector: number;
  readonly deliveryMode: number;
  readonly logical: boolean;
  /** 8-bit destination (IOAPIC) in the xAPIC format. */
  readonly destination: number;
  readonly levelTriggered: boolean;
}

/**
 * What the bus needs of a local APIC (local-apic.ts's LocalApic is one): declared here so that the
 * bus does not depend on the APIC that depends on it.
 */
export interface BusApic {
  readonly initialId: number;
  /** Hardware-enabled (IA32_APIC_BASE.EN): a disabled APIC hears nothing. */
  readonly enabled: boolean;
  /** Software-enabled (SPIV): only these are lowest-priority candidates. */
  readonly softwareEnabled: boolean;
  readonly x2apicMode: boolean;
  /** Whether message destination address `mda` names this APIC, in its own mode's format. */
  matchesDestination(mda: number, logical: boolean): boolean;
  /** Takes a message that names it (and that it was chosen for). */
  acceptMessage(mode: number, vector: number, levelTriggered: boolean): void;
}

export class ApicBus {
  private readonly apics: BusApic[] = [];
  /** Scratch list of lowest-priority candidates (indices into `apics`), so a send allocates nothing. */
  private candidates = new Int32Array(8);
  /**
   * Called with the vector when any local APIC retires a level-triggered interrupt by EOI (the
   * IOAPIC sets it when it is built on this bus, to clear remote IRR).
   */
  onLevelEoi: ((vector: number) => void) | undefined;

  /** Joins `apic` (the LocalApic constructor does this); the bus keeps them in APIC-ID order. */
  attach(apic: BusApic): void {
    const id = apic.initialId;
    if (this.apics.some((a) => a.initialId === id)) throw new Error(`APIC ID ${id} is already on this bus`);
    let k = this.apics.length;
    while (k > 0 && this.apics[k - 1].initialId > id) k--;
    this.apics.splice(k, 0, apic);
    if (this.candidates.length < this.apics.length) this.candidates = new Int32Array(this.apics.length * 2);
  }

  /** The local APICs on the bus, in APIC-ID order. */
  get members(): readonly BusApic[] {
    return this.apics;
  }

  /**
   * An IPI from `source`'s ICR. `lo` is ICR[31:0]; `dest` the destination field in the sender's
   * format (ICR[63:56] in xAPIC mode, ICR[63:32] in x2APIC mode).
   */
  sendIpi(source: BusApic, lo: number, dest: number): void {
    this.dispatch(source, (lo >> 18) & 3, (lo >> 8) & 7, lo & 0xff, (lo & 0x800) !== 0, dest >>> 0,
      (lo & 0x4000) !== 0, (lo & 0x8000) !== 0);
  }

  /** A message from the IOAPIC (or an MSI): always an assert, never a shorthand. */
  deliverMessage(msg: InterruptMessage): void {
    this.dispatch(undefined, Shorthand.NONE, msg.deliveryMode, msg.vector, msg.logical, msg.destination & 0xff,
      true, msg.levelTriggered);
  }

  private dispatch(source: BusApic | undefined, shorthand: number, mode: number, vector: number,
    logical: boolean, dest: number, assert: boolean, levelTriggered: boolean): void {
    if (mode === DeliveryMode.INIT && levelTriggered && !assert) return; // INIT level de-assert
    let lowest = mode === DeliveryMode.LOWEST;
    if (lowest && shorthand === Shorthand.NONE && !logical && dest === XAPIC_BROADCAST) lowest = false;
    let n = 0;
    for (let k = 0; k < this.apics.length; k++) {
      const apic = this.apics[k];
      if (!apic.enabled || !this.names(apic, source, shorthand, logical, dest)) continue;
      if (!lowest) apic.acceptMessage(mode, vector, levelTriggered);
      else if (apic.softwareEnabled) this.candidates[n++] = k;
    }
    if (n > 0) this.apics[this.candidates[vector % n]].acceptMessage(mode, vector, levelTriggered);
  }

  private names(apic: BusApic, source: BusApic | undefined, shorthand: number, logical: boolean, dest: number): boolean {
    switch (shorthand) {
      case Shorthand.SELF: return apic === source;
      case Shorthand.ALL_INCLUDING_SELF: return true;
      case Shorthand.ALL_EXCLUDING_SELF: return apic !== source;
      default: {
        // KVM's kvm_apic_mda: the IOAPIC's broadcast is a broadcast in x2APIC mode too.
        const mda = source === undefined && dest === XAPIC_BROADCAST && apic.x2apicMode ? X2APIC_BROADCAST : dest;
        return apic.matchesDestination(mda, logical);
      }
    }
  }
}
