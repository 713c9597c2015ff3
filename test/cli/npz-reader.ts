// A reader of the .npz files np.savez writes (stored zip entries of .npy arrays), written from
// the specifications for the tests, independently of src/cli/output.
import { readFileSync } from 'node:fs';

/** One array of an .npz. */
export interface NpyRead {
  descr: string;
  shape: number[];
  data: Uint8Array | BigInt64Array | Float32Array;
}

/** The arrays of an .npz by entry name (`arr_0`, …), through its central directory. */
export function readNpz(file: string): Record<string, NpyRead> {
  const zip = readFileSync(file);
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const out: Record<string, NpyRead> = {};
  for (let k = 0; k < count; k++) {
    const [method, size, nameLength, extraLength, commentLength, local] = [
      zip.readUInt16LE(at + 10), zip.readUInt32LE(at + 20), zip.readUInt16LE(at + 28), zip.readUInt16LE(at + 30), zip.readUInt16LE(at + 32), zip.readUInt32LE(at + 42),
    ];
    if (method !== 0) throw new Error('readNpz: only stored entries');
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    out[name.replace(/\.npy$/, '')] = readNpy(zip.subarray(start, start + size));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return out;
}

function readNpy(npy: Buffer): NpyRead {
  const headerLength = npy.readUInt16LE(8);
  const header = npy.toString('latin1', 10, 10 + headerLength);
  const descr = /'descr': '([^']+)'/.exec(header)![1]!;
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const body = npy.subarray(10 + headerLength);
  const n = shape.reduce((a, b) => a * b, 1);
  if (descr === '|u1') return { descr, shape, data: Uint8Array.from(body) };
  if (descr === '<i8') return { descr, shape, data: BigInt64Array.from({ length: n }, (_, i) => body.readBigInt64LE(8 * i)) };
  if (descr === '<f4') return { descr, shape, data: Float32Array.from({ length: n }, (_, i) => body.readFloatLE(4 * i)) };
  throw new Error(`readNpz: dtype ${descr}`);
}
