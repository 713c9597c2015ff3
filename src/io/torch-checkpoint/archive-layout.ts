// Telling a torch.save zip archive from the files people mistake for one (the legacy
// format, TorchScript, safetensors, a bare pickle), and finding its records.
import type { Fail, ZipArchive } from './zip-archive';

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
// The legacy format starts with pickle PROTO 2, then LONG1 of 10 bytes: torch's MAGIC_NUMBER 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const RESAVE = "re-save it with PyTorch >= 1.6: torch.save(torch.load(path, map_location='cpu'), 'new.pt')";

/** Throws, saying what the file is, unless `bytes` starts like a zip archive. @internal */
export function checkZipMagic(bytes: Uint8Array, fail: Fail): void {
  const startsWith = (magic: readonly number[], at = 0): boolean => magic.every((b, i) => bytes[at + i] === b);
  if (startsWith(ZIP_MAGIC)) return;
  if (startsWith(LEGACY_MAGIC)) {
    throw fail(`is a torch.save file in the legacy format (PyTorch < 1.6, or _use_new_zipfile_serialization=False), which is not read: ${RESAVE}`);
  }
  if (bytes[0] === 0x80 && bytes.length > 1 && bytes[1]! >= 2 && bytes[1]! <= 5) {
    throw fail(`is a bare pickle, not a torch.save zip archive (a pickle cannot be read without running code): ${RESAVE}`);
  }
  if (startsWith([0x75, 0x73, 0x74, 0x61, 0x72], 257)) {
    throw fail(`is a tar archive: torch.save's format before PyTorch 0.4, which is not read: ${RESAVE}`);
  }
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(4, true) === 0 && 8 + view.getUint32(0, true) <= bytes.length) {
      throw fail('is a safetensors file, not a torch.save file: read it with readSafetensors (loadTorchStateDict takes either)');
    }
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw fail(`is not a torch.save file: it starts with bytes ${head || '(none)'}, where a zip archive starts with 50 4b 03 04 ("PK\\x03\\x04")`);
}

/**
 * The folder all records sit in (`archive/` for a file saved to a buffer, the file's name
 * for a path), once the archive is known to be a little-endian torch.save checkpoint.
 * @internal
 */
export function torchArchivePrefix(archive: ZipArchive, fail: Fail): string {
  const names = archive.names;
  const listed = `${names.slice(0, 6).join(', ')}${names.length > 6 ? `, ... (${names.length} records)` : ''}`;
  const slash = names[0]?.indexOf('/') ?? -1;
  const prefix = slash > 0 ? names[0]!.slice(0, slash + 1) : '';
  if (!prefix || !names.every((n) => n.startsWith(prefix))) {
    throw fail(`is a zip archive but not one torch.save wrote: its records do not share one folder (${listed || 'no records'})`);
  }
  if (names.includes(`${prefix}constants.pkl`) || names.some((n) => n.startsWith(`${prefix}code/`))) {
    throw fail(
      'is a TorchScript archive (torch.jit.save): it holds a program, not a state dict. In Python, save its weights: ' +
        "torch.save(torch.jit.load(path, map_location='cpu').state_dict(), 'weights.pt')",
    );
  }
  if (!names.includes(`${prefix}data.pkl`)) throw fail(`is a zip archive without ${prefix}data.pkl, so not a torch.save file (${listed})`);
  const byteorder = archive.read(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(byteorder);
    if (order === 'big') {
      throw fail("was saved on a big-endian machine (byteorder record \"big\"); only little-endian files are read: re-save it on a little-endian one (x86, ARM)");
    }
    if (order !== 'little') throw fail(`has byteorder record ${JSON.stringify(order.slice(0, 20))}, neither "little" nor "big"`);
  }
  return prefix;
}
