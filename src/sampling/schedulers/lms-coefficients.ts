import { f32 } from './float32';

/**
 * The coefficients of the linear multistep (LMS) method in σ, as diffusers'
 * `LMSDiscreteScheduler.get_lms_coefficient` computes them, to the bit: coefficient k is
 * the integral over [σ_i, σ_{i+1}] of the Lagrange basis polynomial of the k-th newest
 * node σ_{i−k},
 *
 * c_k = ∫_{σ_i}^{σ_{i+1}} ∏_{j≠k, j<order} (τ − σ_{i−j}) / (σ_{i−k} − σ_{i−j}) dτ,
 *
 * which diffusers hands to `scipy.integrate.quad` (QUADPACK `qags`, epsrel 1e-4) with the
 * integrand evaluated in float32 torch arithmetic. The integrand is a polynomial of degree
 * order − 1, so the exact integral is easy; but quad's answer is its 21-point
 * Gauss–Kronrod sum of the float32-rounded integrand, which differs from the exact value
 * in the 8th digit and, cast to float32 for the step, in the last bit of about a third of
 * the coefficients. So this reproduces QUADPACK's `dqk21` (same nodes, weights and
 * summation order, in float64) over the float32 integrand, and `dqagse`'s test that
 * accepts that first estimate.
 * @internal
 */

// QUADPACK dqk21: Gauss (10-point) weights, Kronrod (21-point) abscissae and weights on
// (−1, 1), positive half; the even Kronrod abscissae (index 1, 3, …) are the Gauss ones.
const WG = [
  0.066671344308688137593568809893332, 0.149451349150580593145776339657697, 0.219086362515982043995534934228163,
  0.269266719309996355091226921569469, 0.295524224714752870173892994651338,
];
const XGK = [
  0.995657163025808080735527280689003, 0.973906528517171720077964012084452, 0.930157491355708226001207180059508,
  0.865063366688984510732096688423493, 0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
  0.562757134668604683339000099272694, 0.433395394129247190799265943165784, 0.294392862701460198131126603103866,
  0.14887433898163121088482600112972, 0,
];
const WGK = [
  0.011694638867371874278064396062192, 0.03255816230796472747881897245939, 0.05475589657435199603138130024458,
  0.07503967481091995276704314091619, 0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
  0.123491976262065851077958109831074, 0.134709217311473325928054001771707, 0.142775938577060080797094273138717,
  0.147739104901338491374841515972068, 0.149445554002916905664936468389821,
];
/** d1mach(4) and d1mach(1). */
const EPMACH = 2 ** -52;
const UFLOW = 2 ** -1022;
/** scipy.integrate.quad's default absolute tolerance, and diffusers' relative one. */
const EPSABS = 1.49e-8;
const EPSREL = 1e-4;

interface Kronrod21 {
  result: number;
  abserr: number;
  /** ∫|f − mean| estimate (dqk21's `resasc`). */
  resasc: number;
  /** ∫|f| estimate (dqk21's `resabs`). */
  resabs: number;
}

/** QUADPACK `dqk21` of f over (a, b), operation for operation in float64. */
function gaussKronrod21(f: (x: number) => number, a: number, b: number): Kronrod21 {
  const centr = 0.5 * (a + b);
  const hlgth = 0.5 * (b - a);
  const dhlgth = Math.abs(hlgth);
  const fv1 = new Float64Array(10);
  const fv2 = new Float64Array(10);
  let resg = 0;
  const fc = f(centr);
  let resk = WGK[10]! * fc;
  let resabs = Math.abs(resk);
  // The Gauss nodes (odd 1-based Fortran indices 2, 4, …), then the Kronrod-only ones.
  for (const start of [1, 0]) {
    for (let j = start; j < 10; j += 2) {
      const absc = hlgth * XGK[j]!;
      const fval1 = f(centr - absc);
      const fval2 = f(centr + absc);
      fv1[j] = fval1;
      fv2[j] = fval2;
      const fsum = fval1 + fval2;
      if (start === 1) resg += WG[(j - 1) / 2]! * fsum;
      resk += WGK[j]! * fsum;
      resabs += WGK[j]! * (Math.abs(fval1) + Math.abs(fval2));
    }
  }
  const reskh = resk * 0.5;
  let resasc = WGK[10]! * Math.abs(fc - reskh);
  for (let j = 0; j < 10; j++) resasc += WGK[j]! * (Math.abs(fv1[j]! - reskh) + Math.abs(fv2[j]! - reskh));
  const result = resk * hlgth;
  resabs *= dhlgth;
  resasc *= dhlgth;
  let abserr = Math.abs((resk - resg) * hlgth);
  if (resasc !== 0 && abserr !== 0) abserr = resasc * Math.min(1, (200 * abserr / resasc) ** 1.5);
  if (resabs > UFLOW / (50 * EPMACH)) abserr = Math.max(EPMACH * 50 * resabs, abserr);
  return { result, abserr, resasc, resabs };
}

/**
 * The LMS coefficients of step `i` (c_0 multiplies the newest derivative): `order` of
 * them, over the nodes σ_i, σ_{i−1}, …, σ_{i−order+1} of the float32 table `sigmas`
 * (descending, ending in 0), integrated from σ_i to σ_{i+1}.
 *
 * Where `dqagse` would not accept the first 21-point estimate and go on subdividing —
 * only where the float32 integrand's rounding noise outgrows quad's error bound (a sweep
 * of every beta schedule, spacing and σ schedule found it only with N = T = 1000 steps,
 * 18 of 166 572 coefficients) — the coefficient is the exact integral instead: the same
 * Kronrod rule on the integrand in float64, exact for order ≤ 32 and within quad's
 * bound (1e-4 relative) of what quad would return.
 */
export function lmsCoefficients(sigmas: ArrayLike<number>, order: number, i: number): number[] {
  const coefficients: number[] = [];
  for (let current = 0; current < order; current++) {
    const basis = (round: (x: number) => number) => (tau: number) => {
      let product = 1;
      for (let k = 0; k < order; k++) {
        if (k === current) continue;
        product = round(product * round(round(round(tau) - sigmas[i - k]!) / round(sigmas[i - current]! - sigmas[i - k]!)));
      }
      return product;
    };
    const a = sigmas[i]!;
    const b = sigmas[i + 1]!;
    const { result, abserr, resasc, resabs } = gaussKronrod21(basis(f32), a, b);
    const errbnd = Math.max(EPSABS, EPSREL * Math.abs(result));
    const roundoff = abserr <= 100 * EPMACH * resabs && abserr > errbnd; // dqagse's ier = 2: it returns this estimate too
    const accepted = (abserr <= errbnd && abserr !== resasc) || abserr === 0 || roundoff;
    coefficients.push(accepted ? result : gaussKronrod21(basis((x) => x), a, b).result);
  }
  return coefficients;
}
