/**
 * bench/linux-console.ts: what the Linux console comparison with QEMU TCG leaves out (only timing
 * and firmware lines) and how it reports the first difference.
 */
import { describe, expect, test } from 'vitest';
import { consoleDifference, normalizeConsole, qemuConsoleArgs } from '../../bench/linux-console.js';

describe('Linux console comparison', () => {
  test('printk timestamps, audit times, carriage returns, empty and listed lines go; everything else stays', () => {
    const ours = '[    0.000041] last_pfn = 0x10000\r\n\n[    0.000000] tsc: Detected 1000.071 MHz processor\n'
      + 'audit: type=2000 audit(1735689600.068:1): state=initialized\nrtc_cmos rtc_cmos: setting system clock to 2025-01-01T00:00:00 UTC (1735689600)\n';
    const qemu = '[    0.000042] last_pfn = 0x10000\n[    0.000000] tsc: Detected 999.993 MHz processor\n'
      + 'audit: type=2000 audit(1735689600.044:1): state=initialized\nrtc_cmos rtc_cmos: setting system clock to 2025-01-01T00:00:00 UTC (1735689600)\n';
    expect(normalizeConsole(ours)).toEqual([
      'last_pfn = 0x10000', 'audit: type=2000 audit(TIME:1): state=initialized',
      'rtc_cmos rtc_cmos: setting system clock to 2025-01-01T00:00:00 UTC (1735689600)',
    ]);
    expect(consoleDifference(normalizeConsole(ours), normalizeConsole(qemu)).at).toBe(-1);
    // A date is not timing: a different RTC start is a difference.
    const later = qemu.replace(/2025-01-01T00:00:00 UTC \(1735689600\)/, '2026-12-07T19:20:17 UTC (1796671217)');
    expect(consoleDifference(normalizeConsole(ours), normalizeConsole(later)).at).toBe(2);
  });

  test('the first difference, a missing line, and where each side goes on', () => {
    const d = consoleDifference(['a', 'b', 'c', 'd'], ['a', 'b', 'CPU MTRRs all blank - virtualized system.', 'c', 'd']);
    expect(d).toEqual({ at: 2, ours: ['c', 'd'], reference: ['CPU MTRRs all blank - virtualized system.', 'c', 'd'] });
    expect(consoleDifference(['a'], ['a', 'b']).at).toBe(1);
  });

  test("QEMU's reference machine: the guest clock counts instructions only when asked, and the CPUID identity has no hypervisor bit or MTRRs", () => {
    const timed = qemuConsoleArgs('vmlinux', undefined, 'console=ttyS0', 256, false);
    const reference = qemuConsoleArgs('vmlinux', 'initrd.cpio', 'console=ttyS0', 128, true);
    expect(timed).not.toContain('-icount');
    expect(timed).not.toContain('-initrd');
    expect(reference.slice(reference.indexOf('-icount'), reference.indexOf('-icount') + 2)).toEqual(['-icount', 'shift=0,sleep=off']);
    expect(reference.slice(-2)).toEqual(['-initrd', 'initrd.cpio']);
    expect(reference[reference.indexOf('-cpu') + 1]).toMatch(/,-hypervisor,-mtrr,/);
    expect(reference[reference.indexOf('-rtc') + 1]).toBe('base=2025-01-01T00:00:00,clock=vm');
  });
});
