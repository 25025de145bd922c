import type { Bus, MmioDevice } from './bus.js';
import type { Clock } from './clock.js';
import type { BarePlatform } from './bare-platform.js';
import type { Vcpu } from '../cpu/vcpu.js';
import { Serial16550 } from './devices/serial.js';
import { DebugExit } from './devices/debug-exit.js';
import { DualPic, ELCR_PORT, PIC_MASTER_PORT, PIC_SLAVE_PORT } from './devices/pic.js';
import { POST_CODE_PORT, PostCode } from './devices/post-code.js';
import { FW_CFG_PORT, FwCfg } from './devices/fw-cfg.js';
import { ACPI_PM_BASE, ACPI_PM_PORTS, AcpiPm } from './devices/acpi-pm.js';
import { RESET_ROM_BASE, RESET_ROM_SIZE, ResetVectorRom, installFirmwareResume } from './firmware-resume.js';
import { DeliveryMode, type InterruptMessage } from './devices/apic-bus.js';
import { type AcpiTables, buildAcpiTables, MADT_IOAPIC_ID } from './devices/acpi-tables.js';
import { buildDmarTable } from './devices/vtd/dmar-table.js';
import { PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_DATA_PORT, PciHost } from './devices/pci-host.js';
import { IOAPIC_BASE, IOAPIC_MMIO_SIZE, IoApic } from './devices/ioapic.js';
import { APIC_DEFAULT_BASE, APIC_MMIO_SIZE, LocalApic } from './devices/local-apic.js';
import { ApicBus } from './devices/apic-bus.js';
import { buildMpTable } from './devices/mp-table.js';
import { PIT_BASE, PIT_IRQ, PIT_PORTS, PORT_B, Pit8254 } from './devices/pit.js';
import { RTC_IRQ, RTC_PORT, RTC_PORTS, CmosRtc } from './devices/rtc.js';
import { PC_TESTDEV_IOMEM_BASE, PC_TESTDEV_IOMEM_SIZE, PC_TESTDEV_IRQ_LINES, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_PORT,
  PC_TESTDEV_PORTS, PcTestdev } from './devices/pc-testdev.js';
import type { InterruptController } from './bare-platform.js';
import { Stop } from '../cpu/vcpu.js';
import { EduDevice } from './devices/edu.js';
import { DirectDma } from './devices/dma-direct.js';
import type { DmaPort } from './devices/dma.js';
import { ICH9_LPC_DEVFN, Q35IntxRouter, ich9Lpc, q35HostBridge } from './devices/pci-q35.js';
import { Q35_PCI_HOLE_END, Q35_PCI_HOLE_START, setupPciLikeSeaBios } from './devices/pci-firmware.js';
import { IntelIommu, VTD_BASE, VTD_MMIO_SIZE } from './devices/vtd/intel-iommu.js';

/**
 * The PC platform around the CPU: every device a guest may rely on (DESIGN section 6), registered
 * on the VM's bus, MSR list and interrupt wiring. One place lists them all.
 *
 *   ports 0x020-0x021, 0x0a0-0x0a1  8259 PICs (all masked)     0x4d0-0x4d1  ELCR
 *         0x040-0x043, 0x061        8254 PIT, port B            0x070-0x071  CMOS RTC
 *         0x080                     POST code                   0x0f4        debug exit
 *         0x3f8-0x3ff               COM1 16550                  0x510-0x511  fw_cfg
 *         0x600-0x60b               ACPI PM1 block, PM timer    0xcf8, 0xcfc PCI config (empty bus on `pc`)
 *         0x0e0-0x0eb, 0x2000-0x2017  QEMU's pc-testdev (kvm-unit-tests' run script always adds it)
 *   MMIO  0xfec00000  IOAPIC        0xfee00000  local APIC (also MSRs 0x1b, 0x6e0, 0x800-0x8ff)
 *         0xff000000  pc-testdev's 64 KiB iomem   0xffff0000  the reset vector's ROM (firmware-resume.ts)
 *   RAM   0xe0000-    ACPI tables (RSDP, RSDT, XSDT, FACP, FACS, DSDT, APIC)
 *         0xfe05b     the S3 resume path (firmware-resume.ts)
 *   q35 only: PCI 00:00.0 host bridge, 00:1f.0 LPC bridge, 00:01.0 edu (-device edu); memory BARs
 *         in the PCI hole 0xc0000000-0xfebfffff (PciHost.window); VT-d at 0xfed90000 (-device intel-iommu)
 *
 * Every other port reads as all ones and ignores writes (the bus's rule), so probing never faults.
 * Interrupt wiring: the local APIC is the vCPU's interrupt controller; the IOAPIC sends to it and
 * hears its EOIs for level-triggered vectors; ISA IRQs go to both the PICs and the IOAPIC pin the
 * MADT names (IRQ0 on GSI2). The PICs' INTR output reaches the CPU through the local APIC's LINT0
 * in ExtINT mode (virtual wire), or directly when the CPU has no APIC or it is disabled; the
 * local APIC's own interrupts come first. IRQ0 is the PIT's channel 0, IRQ4 the UART, IRQ8 the RTC.
 */
/**
 * The chipset and PCI devices (QEMU's -M and -device): `pc` (the default) is the i440FX-era PC
 * with an empty PCI bus, exactly as before PCI devices existed, so that no existing guest sees a
 * difference. `q35` adds the MCH host bridge and the ICH9 LPC bridge (pci-q35.ts), the PCI hole
 * and SeaBIOS's resource assignment (pci-firmware.ts), and the devices asked for: `edu` (QEMU's
 * educational device, in slot 1, the first free slot of a q35 with -nodefaults as in QEMU) and
 * `iommu` (VT-d, devices/vtd/).
 */
export interface PcChipset {
  readonly machine: 'pc' | 'q35';
  readonly edu?: boolean;
  /** QEMU's -device intel-iommu (devices/vtd/): every PCI function's DMA and MSIs, and the IOAPIC's messages, go through it. */
  readonly iommu?: { readonly interruptRemapping: boolean; readonly extendedInterruptMode: boolean };
}

/** PCI slot of the edu device on q35 (QEMU gives it the first free slot: 00:01.0). */
export const EDU_SLOT = 1;

export interface PcDevices {
  readonly serial: Serial16550;
  readonly pic: DualPic;
  readonly postCode: PostCode;
  readonly fwCfg: FwCfg;
  readonly acpiPm: AcpiPm;
  readonly acpiTables: AcpiTables;
  readonly pci: PciHost;
  readonly ioapic: IoApic;
  /** Each vCPU's local APIC, by CPU index, on one APIC bus. */
  readonly lapics: readonly LocalApic[];
  /** The bootstrap processor's local APIC. */
  readonly lapic: LocalApic;
  readonly pit: Pit8254;
  readonly rtc: CmosRtc;
  /** The edu device, with -device edu. */
  readonly edu: EduDevice | undefined;
  /** Drives ISA IRQ line `irq` (0-15) at both interrupt controllers. */
  setIsaIrq(irq: number, level: boolean): void;
}

/** The IOAPIC pin an ISA IRQ arrives on: the identity, except the MADT's IRQ0 -> GSI2 override. */
export function isaIrqToGsi(irq: number): number {
  return irq === 0 ? 2 : irq;
}

/** What the PC's devices are attached to: the machine's bus, clock, memory and vCPUs. */
export interface PcBoard {
  readonly bus: Bus;
  readonly clock: Clock;
  readonly memBytes: number;
  readonly vcpus: readonly Vcpu[];
  /** Each vCPU's bare platform, which gets its local APIC as MSR device and interrupt controller. */
  readonly platforms: readonly BarePlatform[];
  /** The vCPU whose turn it is: the one whose accesses reach the local APIC page. */
  readonly running: Vcpu;
  writePhysical(gpa: number, bytes: Uint8Array): void;
  readPhysical(gpa: number, length: number): Uint8Array;
  requestExit(value: number): void;
}

/**
 * The local APIC pages: every CPU sees its own APIC, at the address its IA32_APIC_BASE names, so an
 * access goes to the APIC of the vCPU that makes it when that APIC's page covers the address
 * (KVM's apic_mmio_in_range). The default page 0xFEE00000 is a registered range; a page moved
 * elsewhere is found through the bus's movable-device hook. An address no APIC claims reads as
 * all ones, as an unassigned address does.
 */
class BankedApicPage implements MmioDevice {
  readonly name = 'local-apic';
  constructor(private readonly board: PcBoard, private readonly lapics: readonly LocalApic[]) {}
  private mine(page: number): LocalApic | undefined {
    const lapic = this.lapics[this.board.running.index];
    return lapic.mmioBase === page ? lapic : undefined;
  }
  /** The registered default page: `offset` is into 0xFEE00000. */
  mmioRead(offset: number, size: number): number {
    const lapic = this.mine(APIC_DEFAULT_BASE);
    if (lapic !== undefined) return lapic.mmioRead(offset, size);
    return size >= 4 ? -1 : size === 2 ? 0xffff : 0xff;
  }
  mmioWrite(offset: number, size: number, value: number): void {
    this.mine(APIC_DEFAULT_BASE)?.mmioWrite(offset, size, value);
  }
  /** A relocated page: `addr` is the guest-physical address. */
  claims(addr: number): boolean {
    return this.mine(addr - (addr % 4096)) !== undefined;
  }
  readAt(addr: number, size: number): number {
    return this.lapics[this.board.running.index].mmioRead(addr % 4096, size);
  }
  writeAt(addr: number, size: number, value: number): void {
    this.lapics[this.board.running.index].mmioWrite(addr % 4096, size, value);
  }
}

export function attachPcDevices(vm: PcBoard, serialOut: (bytes: Uint8Array) => void, chipset: PcChipset = { machine: 'pc' }): PcDevices {
  const cpus = vm.vcpus.length;
  const bsp = vm.vcpus[0];
  const bus = vm.bus;
  const now = (): number => vm.clock.now();

  // The ISA IRQ lines, wired below once both interrupt controllers exist.
  const isaIrq = (irq: number, level: boolean): void => setIsaIrq(irq, level);
  const pulseIsaIrq = (irq: number): void => { setIsaIrq(irq, true); setIsaIrq(irq, false); };

  const serial = new Serial16550(serialOut, (level) => isaIrq(4, level));
  bus.registerPorts(0x3f8, 8, serial);
  bus.registerPorts(0xf4, 4, new DebugExit((status) => vm.requestExit(status)));

  const pic = new DualPic();
  bus.registerPorts(PIC_MASTER_PORT, 2, pic.masterPorts);
  bus.registerPorts(PIC_SLAVE_PORT, 2, pic.slavePorts);
  bus.registerPorts(ELCR_PORT, 2, pic.elcrPorts);
  // The 8259's INTR is wired to the bootstrap processor (LINT0 in virtual-wire mode).
  pic.onOutput = (level) => { if (level) bsp.stop |= Stop.EVENT; };

  const pit = new Pit8254(vm.clock, () => pulseIsaIrq(PIT_IRQ));
  bus.registerPorts(PIT_BASE, PIT_PORTS, pit.pitPorts);
  bus.registerPorts(PORT_B, 1, pit.portBPorts);

  const rtc = new CmosRtc(vm.clock, () => pulseIsaIrq(RTC_IRQ));
  bus.registerPorts(RTC_PORT, RTC_PORTS, rtc);

  const postCode = new PostCode();
  bus.registerPorts(POST_CODE_PORT, 1, postCode);

  const fwCfg = new FwCfg({ ramBytes: vm.memBytes, cpus });
  bus.registerPorts(FW_CFG_PORT, 2, fwCfg);

  const acpiPm = new AcpiPm(now);
  bus.registerPorts(ACPI_PM_BASE, ACPI_PM_PORTS, acpiPm);
  const acpiTables = buildAcpiTables(cpus, chipset.iommu === undefined ? [] : [buildDmarTable({
    interruptRemapping: chipset.iommu.interruptRemapping, ioapicId: MADT_IOAPIC_ID, endpoints: q35Devfns(chipset) })]);
  vm.writePhysical(acpiTables.base, acpiTables.bytes);
  const leaf1 = bsp.model.cpuid(1, 0, 0);
  const mpTable = buildMpTable(cpus, { cpuSignature: leaf1[0], cpuFeatures: leaf1[3] });
  vm.writePhysical(mpTable.base, mpTable.bytes);

  const pci = new PciHost();
  bus.registerPorts(PCI_CONFIG_ADDRESS_PORT, 4, pci.addressPorts);
  bus.registerPorts(PCI_CONFIG_DATA_PORT, 4, pci.dataPorts);

  const apicBus = new ApicBus();
  const lapics = vm.vcpus.map((cpu) => new LocalApic(cpu, vm.clock, { id: cpu.index, bus: apicBus, link: cpu }));
  const apicPages = new BankedApicPage(vm, lapics);
  bus.registerMmio(APIC_DEFAULT_BASE, APIC_MMIO_SIZE, apicPages);
  bus.movable = {
    name: 'local-apic (relocated)',
    claims: (addr) => apicPages.claims(addr),
    mmioRead: (addr, size) => apicPages.readAt(addr, size),
    mmioWrite: (addr, size, value) => apicPages.writeAt(addr, size, value),
  };
  lapics.forEach((lapic, i) => {
    const platform = vm.platforms[i];
    platform.msrDevices.push(lapic);
    // The local APIC's vectors first, then (on the BSP) the 8259's through ExtINT (INTA acknowledges it).
    const controller: InterruptController = {
      pendingVector: (ack) => {
        const v = lapic.pendingVector(ack);
        if (v >= 0 || i !== 0 || !pic.intr || !lapic.passesExtInt) return v;
        return ack ? pic.acknowledge() : pic.master.base;
      },
      setTprFromCr8: (cr8) => lapic.setTprFromCr8(cr8),
    };
    platform.interruptController = controller;
    platform.apicBus = apicBus;
  });

  const ioapic = new IoApic(apicBus);
  bus.registerMmio(IOAPIC_BASE, IOAPIC_MMIO_SIZE, ioapic);

  // ACPI S3: SLP_EN stops every CPU at once (an INIT each: the APs wait for a STARTUP, the BSP
  // waits in the firmware's sleep loop) with the PICs masked, as powered down; the RTC alarm's
  // wake sends the BSP another INIT, and the firmware jumps to the FACS waking vector.
  installFirmwareResume((gpa, bytes) => vm.writePhysical(gpa, bytes), acpiTables.addresses.get('FACS')!);
  bus.registerMmio(RESET_ROM_BASE, RESET_ROM_SIZE, new ResetVectorRom());
  const initAll = (cpus: readonly LocalApic[]): void => { for (const l of cpus) l.acceptMessage(DeliveryMode.INIT, 0, false); };
  acpiPm.onSleep = () => {
    pic.masterPorts.ioWrite(1, 1, 0xff);
    pic.slavePorts.ioWrite(1, 1, 0xff);
    initAll(lapics);
  };
  acpiPm.onWake = () => initAll([lapics[0]]);
  rtc.onAlarm = () => acpiPm.rtcAlarm();

  function setIsaIrq(irq: number, level: boolean): void {
    pic.setIrq(irq, level);
    ioapic.setIrq(isaIrqToGsi(irq), level);
  }

  const testdev = new PcTestdev(setIsaIrq);
  bus.registerPorts(PC_TESTDEV_PORT, PC_TESTDEV_PORTS, testdev.ports);
  bus.registerPorts(PC_TESTDEV_IRQ_PORT, PC_TESTDEV_IRQ_LINES, testdev.irqPorts);
  bus.registerMmio(PC_TESTDEV_IOMEM_BASE, PC_TESTDEV_IOMEM_SIZE, testdev.iomem);

  const edu = chipset.machine === 'q35' ? attachQ35(vm, pci, ioapic, apicBus, setIsaIrq, chipset) : undefined;

  return { serial, pic, postCode, fwCfg, acpiPm, acpiTables, pci, ioapic, lapics, lapic: lapics[0], pit, rtc, edu, setIsaIrq };
}

/** The devfn of each function attachQ35 puts on bus 0 (the DMAR lists them before they exist). */
function q35Devfns(chipset: PcChipset): number[] {
  return [0, ICH9_LPC_DEVFN, ...(chipset.edu === true ? [EDU_SLOT << 3] : [])];
}

/**
 * q35's functions on bus 0, their DMA port and INTx wiring, the PCI hole's MMIO window, and the
 * firmware's resource assignment. Returns the edu device if there is one.
 */
function attachQ35(vm: PcBoard, pci: PciHost, ioapic: IoApic, apicBus: ApicBus,
  setIsaIrq: (irq: number, level: boolean) => void, chipset: PcChipset): EduDevice | undefined {
  const lpc = ich9Lpc();
  pci.attach(0, 0, q35HostBridge());
  pci.attach(ICH9_LPC_DEVFN >> 3, ICH9_LPC_DEVFN & 7, lpc);
  const edu = chipset.edu === true ? new EduDevice() : undefined;
  if (edu !== undefined) pci.attach(EDU_SLOT, 0, edu.fn);
  const memory = { memBytes: vm.memBytes, readPhysical: (gpa: number, n: number) => vm.readPhysical(gpa, n),
    writePhysical: (gpa: number, bytes: Uint8Array) => vm.writePhysical(gpa, bytes) };
  const deliver = (msg: InterruptMessage): void => apicBus.deliverMessage(msg);
  let port: DmaPort = new DirectDma(memory, deliver);
  if (chipset.iommu !== undefined) {
    // VT-d in front of every function's DMA and MSIs, and of the IOAPIC's messages when it remaps interrupts.
    const iommu = new IntelIommu(memory, port, deliver, chipset.iommu);
    vm.bus.registerMmio(VTD_BASE, VTD_MMIO_SIZE, iommu);
    if (chipset.iommu.interruptRemapping) ioapic.remapper = iommu;
    port = iommu;
  }
  for (const { fn } of pci.list()) fn.dma = port;
  new Q35IntxRouter(pci, lpc, (gsi, level) => ioapic.setIrq(gsi, level), setIsaIrq).connectAll();
  vm.bus.registerMmio(Q35_PCI_HOLE_START, Q35_PCI_HOLE_END - Q35_PCI_HOLE_START, pci.window(Q35_PCI_HOLE_START));
  setupPciLikeSeaBios(pci);
  return edu;
}
