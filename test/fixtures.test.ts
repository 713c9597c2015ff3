// The repository's copy of the reference cases (test/fixtures/reference) must equal the shared
// cases beside it (../shared/reference) file for file, byte for byte, wherever those exist:
// otherwise tests would pass against stale data. A public clone has no ../shared, and then
// the copy is all there is.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const copy = path.join(root, 'test', 'fixtures', 'reference');
const shared = path.resolve(root, '..', 'shared', 'reference');

/** Every file below `dir`, as paths relative to it, sorted. */
function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, path.join(prefix, e.name)) : [path.join(prefix, e.name)]))
    .sort();
}

describe('test/fixtures/reference', () => {
  it('holds the improved-diffusion groups, both U-Net cases and the 13 diffusers schedulers, each with its SCHEMA.md', () => {
    const files = listFiles(copy);
    for (const group of ['schedules', 'q_functions', 'p_mean_variance', 'training_losses', 'losses', 'vb_bpd', 'respace', 'sampling', 'resample', 'timestep_embedding']) {
      expect(files).toContain(`${group}.json`);
    }
    expect(files).toEqual(expect.arrayContaining(['SCHEMA.md', 'unet_improved.json', 'unet_improved.safetensors', 'unet_guided_ssn.json', 'unet_guided_ssn.safetensors', 'schedulers/SCHEMA.md']));
    expect(files.filter((f) => f.startsWith('schedulers/') && f.endsWith('.json'))).toHaveLength(13);
  });

  it.skipIf(!existsSync(shared))(
    `equals ../shared/reference byte for byte (skipped where ${shared} is absent, as in a public clone; refresh with npm run fixtures:refresh)`,
    () => {
      const files = listFiles(shared);
      expect(listFiles(copy)).toEqual(files);
      const stale = files.filter((f) => !readFileSync(path.join(copy, f)).equals(readFileSync(path.join(shared, f))));
      expect(stale, 'these files differ from ../shared/reference: run npm run fixtures:refresh').toEqual([]);
    },
  );
});
