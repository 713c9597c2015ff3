import { alphasCumprodOf, diffusersBetas, type BetaConfig } from './betas';
import type { ConfigSchema } from './config';
import { SchedulerBase } from './scheduler';

/**
 * A scheduler that steps in ᾱ (DDPM, DDIM, PNDM, LCM): the float32 β and ᾱ tables
 * diffusers builds from the config, built once.
 * @internal
 */
export abstract class AlphaSchedulerBase extends SchedulerBase {
  /** β_t, float32 as diffusers holds them. */
  readonly betas: Float32Array;
  /** ᾱ_t, float32. */
  readonly alphasCumprod: Float32Array;

  protected constructor(className: string, schema: ConfigSchema, options: unknown) {
    super(className, schema, options);
    this.betas = diffusersBetas(this.config as unknown as BetaConfig);
    this.alphasCumprod = alphasCumprodOf(this.betas);
  }

  /** ᾱ below timestep 0: 1 with `set_alpha_to_one`, else ᾱ_0. */
  protected finalAlphaCumprodOf(): number {
    return this.cfg<boolean>('set_alpha_to_one') ? 1 : this.alphasCumprod[0]!;
  }
}
