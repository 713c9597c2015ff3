// A minimal zip reader for torch.save archives: the central directory, ZIP64 where present,
// stored (uncompressed) records only: others are listed but refused when read. Every offset and length read from the file is checked
// against the bytes actually there before it is used, so a lying header fails at once
// instead of allocating or reading past the end.
import type { DifflibError, DifflibErrorCode } from '../../errors';
import { crc32 } from './crc32';

/** Makes the error for a malformed input; `detail` says what was found. @internal */
export type Fail = (detail: string, code?: DifflibErrorCode) => DifflibError;

/** The records of a zip archive, by name. @internal */
export interface ZipArchive {
  /** Every record name, in central-directory order. */
  names: string[];
  /** The bytes of a record (a view of the file), its CRC-32 checked; undefined when absent. Throws for a compressed record. */
  read(name: string): Uint8Array | undefined;
  /** A record's length in bytes, without reading it; undefined when absent. */
  size(name: string): number | undefined;
}

interface Entry {
  start: number;
  /** Bytes in the file. */
  stored: number;
  /** Bytes once decompressed (the same as `stored` for a stored record). */
  size: number;
  crc: number;
  method: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_BYTES = 22;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const ZIP64_EOCD_BYTES = 56;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EXTRA_ID = 0x0001;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/**
 * Reads the central directory of a zip archive (PKWARE APPNOTE 6.3: end of central
 * directory, ZIP64 end record and locator, central and local headers).
 * @internal
 */
export function readZipArchive(bytes: Uint8Array, fail: Fail): ZipArchive {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  // Beyond 2^53 a length cannot describe bytes that exist: Infinity fails every bounds check.
  const u64 = (at: number): number => {
    const high = u32(at + 4);
    return high >= 2 ** 21 ? Infinity : high * 2 ** 32 + u32(at);
  };

  const eocd = findEndOfCentralDirectory(bytes, view, fail);
  if (u16(eocd + 4) !== 0 && u16(eocd + 4) !== U16_MAX) throw fail('is a multi-disk (split) zip archive, which torch.save never writes');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let cdLimit = eocd;
  const locator = eocd - ZIP64_LOCATOR_BYTES;
  if (locator >= 0 && u32(locator) === SIG_ZIP64_LOCATOR) {
    const at = u64(locator + 8);
    if (!(at + ZIP64_EOCD_BYTES <= locator) || u32(at) !== SIG_ZIP64_EOCD) {
      throw fail(`has a ZIP64 locator pointing at byte ${at}, where no ZIP64 end-of-central-directory record is`);
    }
    const count64 = u64(at + 32);
    const size64 = u64(at + 40);
    const offset64 = u64(at + 48);
    // The 32-bit fields hold either the ZIP64 value or the "see ZIP64" sentinel.
    if ((count !== U16_MAX && count !== count64) || (cdSize !== U32_MAX && cdSize !== size64) || (cdOffset !== U32_MAX && cdOffset !== offset64)) {
      throw fail('has end-of-central-directory records (zip and ZIP64) that disagree');
    }
    [count, cdSize, cdOffset, cdLimit] = [count64, size64, offset64, at];
  } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    throw fail('marks its directory as ZIP64 but has no ZIP64 locator');
  }
  if (!(cdOffset + cdSize <= cdLimit)) {
    throw fail(`declares a central directory of ${cdSize} bytes at byte ${cdOffset}, past its end record at byte ${cdLimit}`);
  }
  if (count * CENTRAL_BYTES > cdSize) throw fail(`declares ${count} entries, more than its ${cdSize}-byte central directory can hold`);

  const entries = new Map<string, Entry>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_BYTES > cdEnd || u32(p) !== SIG_CENTRAL) throw fail(`has a broken central directory: entry ${i} at byte ${p} is not a file header`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compressed = u32(p + 20);
    let size = u32(p + 24);
    const nameLength = u16(p + 28);
    const extraLength = u16(p + 30);
    let local = u32(p + 42);
    const next = p + CENTRAL_BYTES + nameLength + extraLength + u16(p + 32);
    if (next > cdEnd) throw fail(`has a broken central directory: entry ${i} runs past its end`);
    const nameBytes = bytes.subarray(p + CENTRAL_BYTES, p + CENTRAL_BYTES + nameLength);
    let name: string;
    try {
      name = decoder.decode(nameBytes);
    } catch {
      throw fail(`has a record name that is not UTF-8 (entry ${i})`);
    }
    if (size === U32_MAX || compressed === U32_MAX || local === U32_MAX) {
      const extra = zip64Extra(view, p + CENTRAL_BYTES + nameLength, extraLength);
      if (!extra) throw fail(`has record "${name}" with ZIP64 sizes but no ZIP64 extra field`);
      let q = extra.start;
      const take = (): number => {
        if (q + 8 > extra.end) throw fail(`has record "${name}" whose ZIP64 extra field is too short`);
        q += 8;
        return u64(q - 8);
      };
      if (size === U32_MAX) size = take();
      if (compressed === U32_MAX) compressed = take();
      if (local === U32_MAX) local = take();
    }
    if (flags & 1) throw fail(`has encrypted record "${name}"`);
    if (method === 0 && compressed !== size) throw fail(`has stored record "${name}" whose compressed size ${compressed} differs from its size ${size}`);
    if (entries.has(name)) throw fail(`has two records named "${name}"`);
    if (!(local + LOCAL_BYTES <= cdOffset) || u32(local) !== SIG_LOCAL) throw fail(`has record "${name}" whose local header at byte ${local} is missing`);
    const localName = local + LOCAL_BYTES;
    const start = localName + u16(local + 26) + u16(local + 28);
    if (u16(local + 26) !== nameLength || !sameBytes(bytes.subarray(localName, localName + nameLength), nameBytes)) {
      throw fail(`has record "${name}" whose local header names another record`);
    }
    if (!(start + compressed <= cdOffset)) throw fail(`has record "${name}" of ${compressed} bytes at byte ${start}, past the start of the central directory`);
    entries.set(name, { start, stored: compressed, size, crc, method });
    p = next;
  }
  if (p !== cdEnd) throw fail(`has ${cdEnd - p} bytes in its central directory after the ${count} entries it declares`);

  const verified = new Set<string>();
  return {
    names: [...entries.keys()],
    size: (name) => entries.get(name)?.size,
    read(name) {
      const entry = entries.get(name);
      if (!entry) return undefined;
      if (entry.method !== 0) {
        throw fail(`has compressed record "${name}" (zip method ${entry.method}); torch.save stores records uncompressed: was the file re-zipped? Unzip it and zip it again without compression (zip -0)`);
      }
      const data = bytes.subarray(entry.start, entry.start + entry.size);
      // torch.save with set_crc32_options(False) (torch >= 2.2) writes 0 and does not check on load.
      if (!verified.has(name) && entry.crc !== 0) {
        const actual = crc32(data);
        if (actual !== entry.crc) throw fail(`has record "${name}" whose CRC-32 is ${hex(actual)}, not the ${hex(entry.crc)} recorded: the file is corrupt`);
      }
      verified.add(name);
      return data;
    },
  };
}

/** The end-of-central-directory record: the last one whose comment ends exactly at the end of the file. */
function findEndOfCentralDirectory(bytes: Uint8Array, view: DataView, fail: Fail): number {
  const lowest = Math.max(0, bytes.length - EOCD_BYTES - U16_MAX);
  for (let at = bytes.length - EOCD_BYTES; at >= lowest; at--) {
    if (view.getUint32(at, true) === SIG_EOCD && at + EOCD_BYTES + view.getUint16(at + 20, true) === bytes.length) return at;
  }
  throw fail(`is ${bytes.length} bytes and has no zip end-of-central-directory record: truncated, or not a zip archive`);
}

/** The data range of the ZIP64 extended-information field among the extra fields at `at`. */
function zip64Extra(view: DataView, at: number, length: number): { start: number; end: number } | undefined {
  const end = at + length;
  while (at + 4 <= end) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (at + 4 + size > end) return undefined;
    if (id === ZIP64_EXTRA_ID) return { start: at + 4, end: at + 4 + size };
    at += 4 + size;
  }
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
