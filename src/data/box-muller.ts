/**
 * Two independent N(0, 1) draws from two uniforms (Box & Muller 1958):
 * r = √(−2 ln(1 − u₁)), θ = 2π u₂, (r cos θ, r sin θ). `1 − u₁` keeps the log finite
 * for u₁ ∈ [0, 1).
 * @internal
 */
export function normalPair(uniform: () => number): [number, number] {
  const r = Math.sqrt(-2 * Math.log(1 - uniform()));
  const theta = 2 * Math.PI * uniform();
  return [r * Math.cos(theta), r * Math.sin(theta)];
}
