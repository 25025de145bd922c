/**
 * QEMU's named x86 CPU models as data, for `mmulab qemu -cpu NAME`: each model's vendor and the
 * CPUID feature flags QEMU 7.2 turns on for it (read from `query-cpu-model-expansion type=full`,
 * feature names as QEMU spells them), and every feature flag name QEMU 7.2 recognizes (its
 * `-cpu help`), so that `-feat` of a real but unimplemented feature can be told from a typo.
 * qemu-cpu.ts maps these onto mmulab's CPU model; `max` and `host` are not here: they mean
 * every feature mmulab implements.
 */

export interface QemuCpuModel {
  readonly vendor: 'GenuineIntel' | 'AuthenticAMD';
  /** Space-separated QEMU feature names. */
  readonly features: string;
}

export const QEMU_CPU_MODELS: Readonly<Record<string, QemuCpuModel>> = {
  'qemu64': { vendor: 'AuthenticAMD', features: 'apic clflush cmov cx16 cx8 de fpu fxsr hypervisor lahf-lm lm mca mce mmx msr mtrr nx pae pat pge pni pse pse36 sep sse sse2 svm syscall tsc' },
  'kvm64': { vendor: 'GenuineIntel', features: 'apic clflush cmov cx16 cx8 de fpu fxsr hypervisor lm mca mce mmx msr mtrr nx pae pat pge pni pse pse36 sep sse sse2 syscall tsc' },
  'qemu32': { vendor: 'GenuineIntel', features: 'apic cmov cx8 de fpu fxsr hypervisor mce mmx msr pae pat pge pni pse sep sse sse2 tsc' },
  'Nehalem': { vendor: 'GenuineIntel', features: 'apic clflush cmov cx16 cx8 de fpu fxsr hypervisor lahf-lm lm mca mce mmx msr mtrr nx pae pat pge pni popcnt pse pse36 sep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc' },
  'Westmere': { vendor: 'GenuineIntel', features: 'aes apic arat clflush cmov cx16 cx8 de fpu fxsr hypervisor lahf-lm lm mca mce mmx msr mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 sep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc' },
  'SandyBridge': { vendor: 'GenuineIntel', features: 'aes apic arat avx clflush cmov cx16 cx8 de fpu fxsr hypervisor lahf-lm lm mca mce mmx msr mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 rdtscp sep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline x2apic xsave xsaveopt' },
  'IvyBridge': { vendor: 'GenuineIntel', features: 'aes apic arat avx clflush cmov cx16 cx8 de erms f16c fpu fsgsbase fxsr hypervisor lahf-lm lm mca mce mmx msr mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 rdrand rdtscp sep smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline x2apic xsave xsaveopt' },
  'Haswell': { vendor: 'GenuineIntel', features: 'abm aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr hle hypervisor invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdtscp rtm sep smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline x2apic xsave xsaveopt' },
  'Broadwell': { vendor: 'GenuineIntel', features: '3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr hle hypervisor invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed rdtscp rtm sep smap smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline x2apic xsave xsaveopt' },
  'Skylake-Client': { vendor: 'GenuineIntel', features: '3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr hle hypervisor invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed rdtscp rtm sep smap smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline x2apic xgetbv1 xsave xsavec xsaveopt' },
  'Skylake-Server': { vendor: 'GenuineIntel', features: '3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq avx512f avx512vl bmi1 bmi2 clflush clflushopt clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr hle hypervisor invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp rtm sep smap smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline x2apic xgetbv1 xsave xsavec xsaveopt' },
  'Cascadelake-Server': { vendor: 'GenuineIntel', features: '3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq avx512f avx512vl avx512vnni bmi1 bmi2 clflush clflushopt clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr hle hypervisor invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp rtm sep smap smep spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline x2apic xgetbv1 xsave xsavec xsaveopt' },
  'Icelake-Server': { vendor: 'GenuineIntel', features: '3dnowprefetch abm adx aes apic arat avx avx2 avx512-vpopcntdq avx512bitalg avx512bw avx512cd avx512dq avx512f avx512vbmi avx512vbmi2 avx512vl avx512vnni bmi1 bmi2 clflush clflushopt clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr gfni hle hypervisor invpcid la57 lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp rtm sep smap smep spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline umip vaes vpclmulqdq wbnoinvd x2apic xgetbv1 xsave xsavec xsaveopt' },
  'Opteron_G1': { vendor: 'AuthenticAMD', features: 'apic clflush cmov cx8 de fpu fxsr hypervisor lm mca mce mmx msr mtrr nx pae pat pge pni pse pse36 sep sse sse2 syscall tsc' },
  'Opteron_G2': { vendor: 'AuthenticAMD', features: 'apic clflush cmov cx16 cx8 de fpu fxsr hypervisor lahf-lm lm mca mce mmx msr mtrr nx pae pat pge pni pse pse36 sep sse sse2 svm syscall tsc' },
  'Opteron_G3': { vendor: 'AuthenticAMD', features: 'abm apic clflush cmov cx16 cx8 de fpu fxsr hypervisor lahf-lm lm mca mce misalignsse mmx monitor msr mtrr nx pae pat pge pni popcnt pse pse36 rdtscp sep sse sse2 sse4a svm syscall tsc' },
  'Opteron_G4': { vendor: 'AuthenticAMD', features: '3dnowprefetch abm aes apic avx clflush cmov cx16 cx8 de fma4 fpu fxsr hypervisor lahf-lm lm mca mce misalignsse mmx msr mtrr npt nrip-save nx pae pat pclmulqdq pdpe1gb pge pni popcnt pse pse36 rdtscp sep sse sse2 sse4.1 sse4.2 sse4a ssse3 svm syscall tsc xop xsave' },
  'Opteron_G5': { vendor: 'AuthenticAMD', features: '3dnowprefetch abm aes apic avx clflush cmov cx16 cx8 de f16c fma fma4 fpu fxsr hypervisor lahf-lm lm mca mce misalignsse mmx msr mtrr npt nrip-save nx pae pat pclmulqdq pdpe1gb pge pni popcnt pse pse36 rdtscp sep sse sse2 sse4.1 sse4.2 sse4a ssse3 svm syscall tbm tsc xop xsave' },
  'EPYC': { vendor: 'AuthenticAMD', features: '3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush clflushopt cmov cr8legacy cx16 cx8 de f16c fma fpu fsgsbase fxsr fxsr-opt hypervisor lahf-lm lm mca mce misalignsse mmx mmxext monitor movbe msr mtrr npt nrip-save nx osvw pae pat pclmulqdq pdpe1gb pge pni popcnt pse pse36 rdrand rdseed rdtscp sep sha-ni smap smep sse sse2 sse4.1 sse4.2 sse4a ssse3 svm syscall topoext tsc xgetbv1 xsave xsavec xsaveopt' },
};

/** Every CPUID feature flag QEMU 7.2 knows, but the VMX capability flags (vmx-*: qemu-cpu.ts). */
export const QEMU_FEATURE_FLAGS = new Set((
  '3dnow 3dnowext 3dnowprefetch abm ace2 ace2-en acpi adx aes amd-no-ssb amd-ssbd amd-stibp '+
  'amx-bf16 amx-int8 amx-tile apic arat arch-capabilities arch-lbr avic avx avx-vnni avx2 '+
  'avx512-4fmaps avx512-4vnniw avx512-bf16 avx512-fp16 avx512-vp2intersect avx512-vpopcntdq '+
  'avx512bitalg avx512bw avx512cd avx512dq avx512er avx512f avx512ifma avx512pf avx512vbmi '+
  'avx512vbmi2 avx512vl avx512vnni bmi1 bmi2 bus-lock-detect cid cldemote clflush clflushopt clwb '+
  'clzero cmov cmp-legacy core-capability cr8legacy cx16 cx8 dca de decodeassists ds ds-cpl dtes64 '+
  'erms est extapic f16c flushbyasid fma fma4 fpu fsgsbase fsrm full-width-write fxsr fxsr-opt gfni '+
  'hle ht hypervisor ia64 ibpb ibrs ibrs-all ibs intel-pt intel-pt-lip invpcid invtsc kvm-asyncpf '+
  'kvm-asyncpf-int kvm-hint-dedicated kvm-mmu kvm-msi-ext-dest-id kvm-nopiodelay kvm-poll-control '+
  'kvm-pv-eoi kvm-pv-ipi kvm-pv-sched-yield kvm-pv-tlb-flush kvm-pv-unhalt kvm-steal-time kvmclock '+
  'kvmclock-stable-bit la57 lahf-lm lbrv lm lwp mca mce md-clear mds-no misalignsse mmx mmxext '+
  'monitor movbe movdir64b movdiri mpx msr mtrr nodeid-msr npt nrip-save nx osvw pae pat '+
  'pause-filter pbe pcid pclmulqdq pcommit pdcm pdpe1gb perfctr-core perfctr-nb pfthreshold pge phe '+
  'phe-en pks pku pmm pmm-en pn pni popcnt pschange-mc-no pse pse36 rdctl-no rdpid rdrand rdseed '+
  'rdtscp rsba rtm sep serialize sgx sgx-debug sgx-exinfo sgx-kss sgx-mode64 sgx-provisionkey '+
  'sgx-tokenkey sgx1 sgx2 sgxlc sha-ni skinit skip-l1dfl-vmentry smap smep smx spec-ctrl '+
  'split-lock-detect ss ssb-no ssbd sse sse2 sse4.1 sse4.2 sse4a ssse3 stibp svm svm-lock '+
  'svme-addr-chk syscall taa-no tbm tce tm tm2 topoext tsc tsc-adjust tsc-deadline tsc-scale '+
  'tsx-ctrl tsx-ldtrk umip v-vmsave-vmload vaes vgif virt-ssbd vmcb-clean vme vmx vpclmulqdq '+
  'waitpkg wbnoinvd wdt x2apic xcrypt xcrypt-en xfd xgetbv1 xop xsave xsavec xsaveerptr xsaveopt '+
  'xsaves xstore xstore-en xtpr '
).split(' ').filter((f) => f !== ''));
