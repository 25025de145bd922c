// Writes an uncompressed initramfs in the kernel's "newc" cpio format (the format the kernel's
// initramfs unpacker reads, Documentation/driver-api/early-userspace/buffer-format.rst) from a
// list on stdin, so building the busybox initramfs needs neither GNU cpio nor root (device
// nodes are archive entries, not files made with mknod). Every entry has uid 0, gid 0 and
// mtime 0, so the same inputs give the same bytes.
//
//   node guests/linux/cpio-newc.mjs OUT.cpio < LIST
//
// LIST has one entry per line ('#' starts a comment):
//   dir  PATH MODE
//   file PATH MODE SOURCE        (SOURCE: a file on the host)
//   link PATH TARGET             (a symbolic link)
//   char PATH MODE MAJOR MINOR   (a character device)
// MODE is octal permission bits. Bad input ends with one line on stderr and status 2.
import { readFileSync, writeFileSync } from 'node:fs';

const fail = (msg) => {
  process.stderr.write(`cpio-newc: ${msg}\n`);
  process.exit(2);
};

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const parts = [];
let ino = 1;
let size = 0;
const push = (b) => {
  parts.push(b);
  size += b.length;
};
const pad4 = () => {
  if (size % 4 !== 0) push(Buffer.alloc(4 - (size % 4)));
};
const hex8 = (n) => n.toString(16).padStart(8, '0');

// One header, the NUL-terminated name and the data, each padded to 4 bytes.
function entry(name, mode, data, rdevMajor = 0, rdevMinor = 0) {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [ino++, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
  push(Buffer.from(`070701${fields.map(hex8).join('')}`, 'latin1'));
  push(nameBytes);
  pad4();
  push(data);
  pad4();
}

const [out] = process.argv.slice(2);
if (out === undefined) fail('usage: node cpio-newc.mjs OUT.cpio < LIST');
const perm = (s, line) => {
  if (!/^[0-7]{3,4}$/.test(s ?? '')) fail(`bad mode "${s}" in: ${line}`);
  return parseInt(s, 8);
};
const num = (s, line) => {
  if (!/^\d+$/.test(s ?? '')) fail(`bad device number "${s}" in: ${line}`);
  return Number(s);
};

for (const raw of readFileSync(0, 'utf8').split('\n')) {
  const line = raw.replace(/#.*/, '').trim();
  if (line === '') continue;
  const [kind, path, ...rest] = line.split(/\s+/);
  if (path === undefined || path.startsWith('/')) fail(`path must be relative (no leading /): ${line}`);
  switch (kind) {
    case 'dir': entry(path, S_IFDIR | perm(rest[0], line), Buffer.alloc(0)); break;
    case 'file': {
      if (rest[1] === undefined) fail(`file needs MODE and SOURCE: ${line}`);
      let data;
      try { data = readFileSync(rest[1]); } catch (e) { fail(`cannot read ${rest[1]}: ${e.code ?? e.message}`); }
      entry(path, S_IFREG | perm(rest[0], line), data);
      break;
    }
    case 'link':
      if (rest[0] === undefined) fail(`link needs a TARGET: ${line}`);
      entry(path, S_IFLNK | 0o777, Buffer.from(rest[0], 'utf8'));
      break;
    case 'char': entry(path, S_IFCHR | perm(rest[0], line), Buffer.alloc(0), num(rest[1], line), num(rest[2], line)); break;
    default: fail(`unknown entry kind "${kind}": ${line}`);
  }
}
entry('TRAILER!!!', 0, Buffer.alloc(0));
// The kernel reads the archive in 512-byte blocks' worth; pad like cpio does.
if (size % 512 !== 0) push(Buffer.alloc(512 - (size % 512)));
writeFileSync(out, Buffer.concat(parts));
