/** Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known names closest to a mistyped one, best first: within an edit distance of a
 * third of its length (at least 2), ignoring case and `-` versus `_`, or containing it.
 */
export function didYouMean(name: string, known: readonly string[]): string[] {
  const normal = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const given = normal(name);
  const limit = Math.max(2, Math.floor(given.length / 3));
  return known
    .map((k) => ({ k, d: editDistance(given, normal(k)) }))
    .filter(({ k, d }) => d <= limit || (given.length >= 3 && normal(k).includes(given)))
    .sort((x, y) => x.d - y.d || x.k.localeCompare(y.k))
    .slice(0, 3)
    .map(({ k }) => k);
}
