/**
 * Lets the event loop run (UI, I/O, abort handlers) between the steps of a long
 * async loop. A macrotask, not `tf.nextFrame`: browsers pause requestAnimationFrame
 * in hidden tabs, which would stall sampling there.
 * @internal
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}
