import { DifflibError, describeValue } from '../errors';
import type { CheckpointStore } from './checkpoint-store';
import { DirectoryCheckpointStore } from './directory-checkpoint-store';
import { IOHandlerCheckpointStore } from './io-handler-checkpoint-store';

/** A store for a target: itself, a tfjs URL (`scheme://…`) or a directory path. @internal */
export function storeFor(fn: string, target: CheckpointStore | string): CheckpointStore {
  if (typeof target === 'string') {
    if (target.length === 0) throw new DifflibError('INVALID_ARGUMENT', fn, 'target', 'must be a non-empty path or URL');
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? new IOHandlerCheckpointStore(target) : new DirectoryCheckpointStore(target);
  }
  if (target === null || typeof target !== 'object' || typeof target.write !== 'function' || typeof target.read !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'target', `must be a CheckpointStore, a directory path or a tfjs URL, got ${describeValue(target)}`);
  }
  return target;
}
