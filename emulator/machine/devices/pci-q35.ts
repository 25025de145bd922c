import { PciFunction } from './pci-function.js';
import type { PciHost } from './pci-host.js';

/**
 * The q35 machine's chipset functions and its INTx wiring, as QEMU builds them (hw/pci-host/q35.c,
 * hw/isa/lpc_ich9.c):
 *
 *   00:00.0  MCH host bridge  8086:29c0, class 0x0600 (host bridge), revision 0
 *   00:1f.0  ICH9 LPC bridge  8086:2918, class 0x0601 (ISA bridge), revision 2, multi-function
 *
 * The LPC bridge's PIRQA-D and PIRQE-H routing registers (config 0x60-0x63 and 0x68-0x6b, 0x80
 * at reset: bit 7 = not routed to the 8259s, bits 3:0 = the ISA IRQ) are all that is modeled of
 * it. QEMU's other q35 functions (SATA at 1f.2, SMBus at 1f.3), the MCH's PCIEXBAR (MMCONFIG)
 * and the LPC's ACPI and RCBA registers are not: kvm-unit-tests reaches configuration space
 * through ports 0xCF8/0xCFC only.
 *
 * INTx (lpc_ich9.c, ich9_cc_init and ich9_lpc_set_irq): pin INTA-INTD (1-4) of a function in
 * slot s is PIRQ ((s + pin - 1) mod 4) + 4, i.e. PIRQE-H, for every slot. A PIRQ's level is the
 * OR of the pins on it and always drives IOAPIC pin 16 + PIRQ; when its routing register has bit
 * 7 clear, it also drives ISA IRQ (register & 0xf), which reaches the 8259s and the IOAPIC pin of
 * that IRQ. SeaBIOS routes PIRQA-H to IRQ 10, 10, 11, 11 and writes the same IRQ into each
 * function's interrupt line register (pci-firmware.ts), and kvm-unit-tests programs the IOAPIC
 * pin the interrupt line names (lib/x86/intel-iommu.c, vtd_setup_ioapic_irq, through
 * pci_intx_line): so the edu device's INTA# reaches that pin through the ISA route.
 */
export const Q35_HOST_BRIDGE_DEVFN = 0;
export const ICH9_LPC_DEVFN = (0x1f << 3) | 0;
export const ICH9_LPC_PIRQA_ROUT = 0x60;
export const ICH9_LPC_PIRQE_ROUT = 0x68;
const PIRQ_ROUT_DEFAULT = 0x80;
const PIRQ_ROUT_DISABLED = 0x80;
export const PIRQS = 8;
/** IOAPIC pin of PIRQA; PIRQn is on 16 + n. */
export const PIRQ_GSI_BASE = 16;

export function q35HostBridge(): PciFunction {
  return new PciFunction({ name: 'q35-host-bridge', vendor: 0x8086, device: 0x29c0, revision: 0, classCode: 0x060000 });
}

export function ich9Lpc(): PciFunction {
  const fn = new PciFunction({ name: 'ich9-lpc', vendor: 0x8086, device: 0x2918, revision: 2, classCode: 0x060100, headerType: 0x80 });
  for (let i = 0; i < 4; i++) {
    fn.defineByte(ICH9_LPC_PIRQA_ROUT + i, PIRQ_ROUT_DEFAULT, 0xff);
    fn.defineByte(ICH9_LPC_PIRQE_ROUT + i, PIRQ_ROUT_DEFAULT, 0xff);
  }
  return fn;
}

/** The PIRQ (0-7 for A-H) that pin `pin` (1-4) of a function in `slot` drives on q35. */
export function q35Pirq(slot: number, pin: number): number {
  return ((slot + pin - 1) % 4) + 4;
}

/** The offset of PIRQ `pirq`'s routing register in the LPC bridge. */
export function pirqRouteRegister(pirq: number): number {
  return pirq < 4 ? ICH9_LPC_PIRQA_ROUT + pirq : ICH9_LPC_PIRQE_ROUT + pirq - 4;
}

/**
 * Joins the INTx pins of bus 0's functions to the interrupt controllers: `ioapicPin` drives an
 * IOAPIC input directly (the PIRQ's GSI), `isaIrq` an ISA IRQ line (8259 and IOAPIC). Levels are
 * recomputed on every change of a pin, from the routing registers as they are then (QEMU also
 * reads them only when a PIRQ changes).
 */
export class Q35IntxRouter {
  /** Each function's pin level, by devfn. */
  private readonly pinLevel = new Uint8Array(256);
  private readonly pirqLevel = new Uint8Array(PIRQS);
  private readonly isaLevel = new Uint8Array(16);

  constructor(private readonly host: PciHost, private readonly lpc: PciFunction,
    private readonly ioapicPin: (gsi: number, level: boolean) => void, private readonly isaIrq: (irq: number, level: boolean) => void) {}

  /** Wires every function with an interrupt pin on the bus now. */
  connectAll(): void {
    for (const { devfn, fn } of this.host.list()) {
      const pin = fn.config[0x3d];
      if (pin < 1 || pin > 4) continue;
      fn.intxSink = (level) => this.setPin(devfn, level);
    }
  }

  private pirqOf(devfn: number): number {
    return q35Pirq(devfn >> 3, this.host.at(devfn)!.config[0x3d]);
  }

  private setPin(devfn: number, level: boolean): void {
    this.pinLevel[devfn] = level ? 1 : 0;
    const pirq = this.pirqOf(devfn);
    let any = 0;
    for (const { devfn: d } of this.host.list()) if (this.pinLevel[d] !== 0 && this.pirqOf(d) === pirq) any = 1;
    if (any !== this.pirqLevel[pirq]) {
      this.pirqLevel[pirq] = any;
      this.ioapicPin(PIRQ_GSI_BASE + pirq, any !== 0);
    }
    this.updateIsa(this.routeOf(pirq));
  }

  /** The ISA IRQ PIRQ `pirq` is routed to, or -1. */
  private routeOf(pirq: number): number {
    const r = this.lpc.config[pirqRouteRegister(pirq)];
    return (r & PIRQ_ROUT_DISABLED) !== 0 ? -1 : r & 0xf;
  }

  private updateIsa(irq: number): void {
    if (irq < 0) return;
    let any = 0;
    for (let p = 0; p < PIRQS; p++) if (this.pirqLevel[p] !== 0 && this.routeOf(p) === irq) any = 1;
    if (any === this.isaLevel[irq]) return;
    this.isaLevel[irq] = any;
    this.isaIrq(irq, any !== 0);
  }
}
