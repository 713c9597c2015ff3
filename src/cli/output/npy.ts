// The .npy format (NumPy's NEP 1, version 1.0), for the arrays the CLI writes.

/** The dtypes the CLI writes, by NumPy's `descr`. */
export type NpyArray =
  | { descr: '|u1'; data: Uint8Array }
  | { descr: '<i8'; data: BigInt64Array }
  | { descr: '<f4'; data: Float32Array };

/**
 * One array as a .npy file, as `np.save` writes it: the magic `\x93NUMPY`, version 1.0,
 * a little-endian uint16 header length, the header `{'descr': …, 'fortran_order':
 * False, 'shape': (…), }` padded with spaces and a final newline to a multiple of 64
 * bytes, then the C-order data.
 *
 * @param array - the dtype and the values (row-major).
 * @param shape - the dimensions; their product must be the number of values.
 * @returns the file's bytes in two parts, header and data (uint8 data is not copied).
 */
export function encodeNpy(array: NpyArray, shape: readonly number[]): [Uint8Array, Uint8Array] {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== array.data.length) throw new Error(`encodeNpy: shape (${shape.join(', ')}) holds ${size} values, the data ${array.data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${array.descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const preamble = 10; // magic (6) + version (2) + header length (2)
  const padded = Math.ceil((preamble + dict.length + 1) / 64) * 64;
  const header = dict.padEnd(padded - preamble - 1, ' ') + '\n';
  if (header.length > 0xffff) throw new Error('encodeNpy: header too long for format version 1.0');
  const head = new Uint8Array(preamble + header.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY, version 1.0
  new DataView(head.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) head[preamble + i] = header.charCodeAt(i);
  if (array.descr === '|u1') return [head, array.data];
  // Written through a DataView: '<' is little-endian whatever the platform's order.
  const body = new Uint8Array(array.data.byteLength);
  const view = new DataView(body.buffer);
  if (array.descr === '<f4') array.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  else array.data.forEach((v, i) => view.setBigInt64(8 * i, v, true));
  return [head, body];
}
