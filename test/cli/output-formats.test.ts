// The files and numbers the CLI writes, against their specifications: .npy (NEP 1), .npz (a
// stored zip, PKWARE APPNOTE; CRC-32 against node:zlib), numpy itself where /usr/bin/python3
// has it, and Python's '%g' / repr where a python3 is on the PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { formatG, reprFloat } from '../../src/cli/log/py-format';
import { crc32 } from '../../src/cli/output/crc32';
import { encodeNpy } from '../../src/cli/output/npy';
import { writeNpz } from '../../src/cli/output/npz';

const hasNumpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'pass'], { stdio: 'ignore' }).status === 0);
const dir = mkdtempSync(path.join(os.tmpdir(), 'difflib-cli-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761 + seed * 40503) >>> 24);

describe('CRC-32', () => {
  it('is zip\'s CRC-32 (the check value of "123456789", and node:zlib on other bytes)', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    for (const n of [0, 1, 63, 1000]) expect(crc32(bytes(n, n))).toBe(zlib.crc32(bytes(n, n)));
  });

  it('continues over several buffers: crc32(b, crc32(a)) is the CRC of a then b', () => {
    const [a, b] = [bytes(77, 1), bytes(300, 2)];
    expect(crc32(b, crc32(a))).toBe(zlib.crc32(Buffer.concat([a, b])));
  });
});

/** The header dict of a .npy file, checked against NEP 1 (version 1.0, 64-byte aligned). */
function npyHeader(file: Uint8Array): { header: string; dataAt: number } {
  expect(Array.from(file.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const length = file[8]! | (file[9]! << 8);
  const header = Buffer.from(file.subarray(10, 10 + length)).toString('latin1');
  expect((10 + length) % 64).toBe(0);
  expect(header.endsWith('\n')).toBe(true);
  return { header: header.trimEnd(), dataAt: 10 + length };
}

describe('.npy', () => {
  it("writes np.save's header and little-endian C-order data for uint8, int64 and float32", () => {
    const [head, body] = encodeNpy({ descr: '|u1', data: Uint8Array.from([1, 2, 3, 250, 5, 6]) }, [2, 1, 3]);
    const u8 = Buffer.concat([head, body]);
    expect(npyHeader(u8).header).toBe("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 3), }");
    expect(Array.from(u8.subarray(npyHeader(u8).dataAt))).toEqual([1, 2, 3, 250, 5, 6]);

    const i8 = Buffer.concat(encodeNpy({ descr: '<i8', data: BigInt64Array.from([1n, -2n, 999n]) }, [3]));
    expect(npyHeader(i8).header).toBe("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
    const at = npyHeader(i8).dataAt;
    expect([0, 1, 2].map((k) => i8.readBigInt64LE(at + 8 * k))).toEqual([1n, -2n, 999n]);

    const f4 = Buffer.concat(encodeNpy({ descr: '<f4', data: Float32Array.from([0.5, -3.25]) }, [2]));
    expect([0, 1].map((k) => f4.readFloatLE(npyHeader(f4).dataAt + 4 * k))).toEqual([0.5, -3.25]);
  });

  it('refuses a shape that does not hold the data', () => {
    expect(() => encodeNpy({ descr: '|u1', data: new Uint8Array(5) }, [2, 3])).toThrow(/holds 6 values, the data 5/);
  });
});

describe('.npz', () => {
  const images = bytes(4 * 5 * 6 * 3, 9);
  const labels = BigInt64Array.from([3n, 0n, 999n, 7n]);
  const file = path.join(dir, 'samples_4x5x6x3.npz');

  it('is a stored zip of arr_0.npy, arr_1.npy with correct headers, sizes, CRCs and central directory', async () => {
    await writeNpz(file, [
      { array: { descr: '|u1', data: images }, shape: [4, 5, 6, 3] },
      { array: { descr: '<i8', data: labels }, shape: [4] },
    ]);
    const zip = readFileSync(file);
    // End of central directory: the last 22 bytes (no comment).
    const end = zip.length - 22;
    expect(zip.readUInt32LE(end)).toBe(0x06054b50);
    expect(zip.readUInt16LE(end + 10)).toBe(2);
    const [dirSize, dirAt] = [zip.readUInt32LE(end + 12), zip.readUInt32LE(end + 16)];
    expect(dirAt + dirSize).toBe(end);
    let at = dirAt;
    const names: string[] = [];
    for (let k = 0; k < 2; k++) {
      expect(zip.readUInt32LE(at)).toBe(0x02014b50);
      expect(zip.readUInt16LE(at + 10)).toBe(0); // stored
      const [crc, size, usize, nameLength, local] = [zip.readUInt32LE(at + 16), zip.readUInt32LE(at + 20), zip.readUInt32LE(at + 24), zip.readUInt16LE(at + 28), zip.readUInt32LE(at + 42)];
      const name = zip.toString('latin1', at + 46, at + 46 + nameLength);
      names.push(name);
      expect(size).toBe(usize);
      expect(zip.readUInt32LE(local)).toBe(0x04034b50);
      expect(zip.readUInt32LE(local + 14)).toBe(crc);
      expect(zip.toString('latin1', local + 30, local + 30 + nameLength)).toBe(name);
      const data = zip.subarray(local + 30 + nameLength, local + 30 + nameLength + size);
      expect(zlib.crc32(data)).toBe(crc);
      const { header, dataAt } = npyHeader(data);
      if (name === 'arr_0.npy') {
        expect(header).toContain("'shape': (4, 5, 6, 3)");
        expect(Buffer.from(data.subarray(dataAt)).equals(Buffer.from(images))).toBe(true);
      } else expect(header).toContain("'descr': '<i8'");
      at += 46 + nameLength;
    }
    expect(names).toEqual(['arr_0.npy', 'arr_1.npy']);
  });

  it.skipIf(!hasNumpy)('loads in numpy (np.load) with its dtypes, shapes and values (needs /usr/bin/python3 with numpy)', () => {
    const out = execFileSync('/usr/bin/python3', ['-c', `
import json, sys, numpy as np
d = np.load(sys.argv[1])
print(json.dumps({"files": d.files, "shape": list(d["arr_0"].shape), "dtype": str(d["arr_0"].dtype), "sum": int(d["arr_0"].astype(np.int64).sum()),
                  "labels": d["arr_1"].tolist(), "labels_dtype": str(d["arr_1"].dtype)}))`, file], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({
      files: ['arr_0', 'arr_1'],
      shape: [4, 5, 6, 3],
      dtype: 'uint8',
      sum: images.reduce((s, v) => s + v, 0),
      labels: [3, 0, 999, 7],
      labels_dtype: 'int64',
    });
  });
});

describe("numbers as improved-diffusion's Python prints them", () => {
  const values = [0, 1, 10, 1000, 123456, 0.5, 0.1, 1e-4, 1.5e-5, 0.000123456, 2.34567, 99.95, 999.5, -0.0123, 1e16, 1.2345e17, 1 / 3, 2 ** -30, 12345.678];

  it("'%g' with 3 digits and repr on known cases", () => {
    expect([1000, 0.5, 1e-4, 1.5e-5, 99.95, 12345.678].map((v) => formatG(v))).toEqual(['1e+03', '0.5', '0.0001', '1.5e-05', '100', '1.23e+04']);
    expect([0, 1, 0.1, 1e-4, 1.5e-5, 1e16, 123456].map(reprFloat)).toEqual(['0.0', '1.0', '0.1', '0.0001', '1.5e-05', '1e+16', '123456.0']);
  });

  it.skipIf(python === undefined)('agree with Python on a spread of values (needs a python3)', () => {
    const out = execFileSync(python!, ['-c', `import json, sys; v = json.loads(sys.argv[1]); print(json.dumps([['%.3g' % x for x in v], [repr(float(x)) for x in v]]))`, JSON.stringify(values)], { encoding: 'utf8' });
    expect([values.map((v) => formatG(v)), values.map(reprFloat)]).toEqual(JSON.parse(out));
  });
});
