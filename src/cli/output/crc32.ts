// CRC-32 as zip stores it (reflected polynomial 0xEDB88320, initial and final value
// 0xFFFFFFFF). Unlike the torch-checkpoint reader's one-shot CRC, this one continues a CRC
// over several buffers, so an .npz entry is checked without joining its header and data.

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * The CRC-32 of `bytes` following bytes whose CRC-32 was `previous` (0 for none):
 * crc32(b, crc32(a)) is the CRC of a then b. crc32("123456789") = 0xCBF43926.
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const t = crcTable();
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
