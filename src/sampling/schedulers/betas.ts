import { cumprodF32, f32, torchLinspaceF32 } from './float32';

/** diffusers' `beta_schedule` names. */
export type DiffusersBetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

/** The schedule part of a diffusers scheduler config. @internal */
export interface BetaConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: DiffusersBetaSchedule;
  trained_betas: ArrayLike<number> | null;
  rescale_betas_zero_snr?: boolean;
}

/**
 * diffusers' `betas_for_alpha_bar` with the cosine ᾱ(t) = cos²((t + 0.008)/1.008 · π/2)
 * (Nichol & Dhariwal 2021): β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), 0.999) in float64, then
 * stored as float32.
 */
function squaredcosCapV2(T: number): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Float32Array.from({ length: T }, (_, i) => Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999));
}

/**
 * diffusers' `rescale_zero_terminal_snr` (Lin et al. 2023, Algorithm 1), in float32 as
 * torch runs it: √ᾱ shifted so its last entry is 0 and scaled so its first is kept,
 * then β re-derived from the new ᾱ.
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const alphasCumprod = cumprodF32(betas.map((b) => f32(1 - b)));
  const sqrtAb = alphasCumprod.map(Math.sqrt);
  const first = sqrtAb[0]!;
  const last = sqrtAb[sqrtAb.length - 1]!;
  const scale = f32(first / f32(first - last));
  const alphaBar = sqrtAb.map((v) => {
    const shifted = f32(f32(v - last) * scale);
    return f32(shifted * shifted);
  });
  const out = new Float32Array(betas.length);
  for (let i = 0; i < out.length; i++) {
    const alpha = i === 0 ? alphaBar[0]! : f32(alphaBar[i]! / alphaBar[i - 1]!);
    out[i] = f32(1 - alpha);
  }
  return out;
}

/**
 * β_1..β_T exactly as a diffusers scheduler's `__init__` makes them (float32): trained
 * betas as given, `linear` = torch's float32 linspace, `scaled_linear` = that linspace
 * of √β squared, `squaredcos_cap_v2` = the cosine schedule; then zero-terminal-SNR
 * rescaling when asked.
 * @internal
 */
export function diffusersBetas(config: BetaConfig): Float32Array {
  const T = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas !== null) betas = Float32Array.from(config.trained_betas);
  else if (config.beta_schedule === 'linear') betas = torchLinspaceF32(config.beta_start, config.beta_end, T);
  else if (config.beta_schedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), T).map((v) => f32(v * v));
  } else betas = squaredcosCapV2(T);
  return config.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** ᾱ_t = ∏ (1 − β_s), float32 with a float64 accumulator, as `torch.cumprod`. @internal */
export function alphasCumprodOf(betas: Float32Array): Float32Array {
  return cumprodF32(betas.map((b) => f32(1 - b)));
}
