// np.savez: a zip archive of .npy files named arr_0.npy, arr_1.npy, … stored without
// compression (what np.savez writes; np.savez_compressed deflates), written here as a
// minimal PKWARE APPNOTE archive: per entry a local header and the data, then the
// central directory and its end record.
import { open } from 'node:fs/promises';
import { crc32 } from './crc32';
import { encodeNpy, type NpyArray } from './npy';

/** One array of an .npz: its dtype, values and shape. */
export interface NpzArray {
  array: NpyArray;
  shape: readonly number[];
}

/** Zip's fixed fields: version 2.0, no flags, method 0 (stored), DOS date 1980-01-01 00:00. */
const VERSION = 20;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const MAX_32 = 0xffffffff;

/**
 * Writes `arrays` as `np.savez(path, *arrays)` does (names arr_0, arr_1, …), so
 * `np.load(path)["arr_0"]` reads the first. Without ZIP64, so the file must stay under
 * 4 GiB (10 000 samples at 256×256×3 are 1.97 GB).
 *
 * @param path - the .npz file (replaced if it exists).
 * @param arrays - the arrays, in order.
 * @throws Error when an entry or the archive would pass 4 GiB.
 */
export async function writeNpz(path: string, arrays: readonly NpzArray[]): Promise<void> {
  const entries = arrays.map(({ array, shape }, i) => {
    const parts = encodeNpy(array, shape);
    const name = new TextEncoder().encode(`arr_${i}.npy`);
    const size = parts.reduce((s, p) => s + p.length, 0);
    if (size >= MAX_32) throw new Error(`writeNpz: arr_${i} is ${size} bytes; an .npz without ZIP64 holds less than 4 GiB`);
    return { name, parts, size, crc: crc32Parts(parts), offset: 0 };
  });
  const file = await open(path, 'w');
  try {
    let offset = 0;
    for (const entry of entries) {
      entry.offset = offset;
      const header = localHeader(entry);
      await file.write(header);
      for (const part of entry.parts) await file.write(part);
      offset += header.length + entry.size;
      if (offset >= MAX_32) throw new Error('writeNpz: the archive would pass 4 GiB, which needs ZIP64');
    }
    const directory = entries.map(centralHeader);
    const directorySize = directory.reduce((s, d) => s + d.length, 0);
    for (const record of directory) await file.write(record);
    await file.write(endRecord(entries.length, directorySize, offset));
  } finally {
    await file.close();
  }
}

interface Entry {
  name: Uint8Array;
  size: number;
  crc: number;
  offset: number;
}

function crc32Parts(parts: readonly Uint8Array[]): number {
  return parts.reduce((crc, part) => crc32(part, crc), 0);
}

function localHeader(e: Entry): Uint8Array {
  const out = new Uint8Array(30 + e.name.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x04034b50, true); // local file header signature
  v.setUint16(4, VERSION, true); // version needed to extract
  v.setUint16(6, 0, true); // general purpose flags
  v.setUint16(8, 0, true); // method: stored
  v.setUint16(10, 0, true); // time
  v.setUint16(12, DOS_DATE, true);
  v.setUint32(14, e.crc, true);
  v.setUint32(18, e.size, true); // compressed size
  v.setUint32(22, e.size, true); // uncompressed size
  v.setUint16(26, e.name.length, true);
  v.setUint16(28, 0, true); // extra field length
  out.set(e.name, 30);
  return out;
}

function centralHeader(e: Entry): Uint8Array {
  const out = new Uint8Array(46 + e.name.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x02014b50, true); // central directory signature
  v.setUint16(4, VERSION, true); // version made by (MS-DOS, 2.0)
  v.setUint16(6, VERSION, true); // version needed
  v.setUint16(8, 0, true);
  v.setUint16(10, 0, true);
  v.setUint16(12, 0, true);
  v.setUint16(14, DOS_DATE, true);
  v.setUint32(16, e.crc, true);
  v.setUint32(20, e.size, true);
  v.setUint32(24, e.size, true);
  v.setUint16(28, e.name.length, true);
  // extra length, comment length, disk number, internal and external attributes: 0
  v.setUint32(42, e.offset, true); // offset of the local header
  out.set(e.name, 46);
  return out;
}

function endRecord(count: number, directorySize: number, directoryOffset: number): Uint8Array {
  const out = new Uint8Array(22);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x06054b50, true); // end of central directory signature
  v.setUint16(8, count, true); // entries on this disk
  v.setUint16(10, count, true); // entries in total
  v.setUint32(12, directorySize, true);
  v.setUint32(16, directoryOffset, true);
  return out;
}
