/** Keys already warned about: each deprecation is reported once per process. */
const warned = new Set<string>();

/**
 * Reports the use of a deprecated name once (console.warn), naming what replaces it.
 * Deprecated names keep working for one release (this is 0.x; see CHANGELOG.md).
 * @internal
 */
export function warnDeprecated(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(`difflib: ${message} (deprecated; it will be removed in the next release)`);
}
