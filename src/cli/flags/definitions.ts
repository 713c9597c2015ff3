// The flags of `difflib train | sample | nll`: improved-diffusion's, with its names, types
// and defaults (scripts/image_train.py, image_sample.py, image_nll.py and
// script_util.model_and_diffusion_defaults), then a few from guided-diffusion's
// script_util for its checkpoints, then difflib's own.
import type { FlagSpec } from './spec';

const ID = 'improved-diffusion';
const GUIDED = 'guided-diffusion';
const DIFFLIB = 'difflib';

/** script_util.model_and_diffusion_defaults(), plus guided-diffusion's architecture flags. */
export const MODEL_FLAGS: readonly FlagSpec[] = [
  { name: 'image_size', type: 'int', default: 64, group: ID, help: 'side of the square images' },
  { name: 'num_channels', type: 'int', default: 128, group: ID, help: 'base channel count of the U-Net' },
  { name: 'num_res_blocks', type: 'int', default: 2, group: ID, help: 'residual blocks per resolution' },
  { name: 'num_heads', type: 'int', default: 4, group: ID, help: 'attention heads' },
  { name: 'num_heads_upsample', type: 'int', default: -1, group: ID, help: 'attention heads on the way up (-1: num_heads)' },
  { name: 'attention_resolutions', type: 'str', default: '16,8', group: ID, help: 'resolutions with self-attention, comma-separated' },
  { name: 'dropout', type: 'float', default: 0.0, group: ID, help: 'dropout rate in residual blocks' },
  { name: 'learn_sigma', type: 'bool', default: false, group: ID, help: 'learn the reverse variance (6 output channels, learned_range)' },
  { name: 'sigma_small', type: 'bool', default: false, group: ID, help: 'fixed variance β̃_t (fixed_small) instead of β_t (fixed_large)' },
  { name: 'class_cond', type: 'bool', default: false, group: ID, help: 'class-conditional model; classes from file names (label_XXX.png)' },
  { name: 'diffusion_steps', type: 'int', default: 1000, group: ID, help: 'T, steps of the diffusion process' },
  { name: 'noise_schedule', type: 'str', default: 'linear', group: ID, help: 'linear or cosine (or scaled_linear, sigmoid)' },
  { name: 'timestep_respacing', type: 'str', default: '', group: ID, help: 'sample/train on fewer steps: "250", "ddim50", "10,20,30"' },
  { name: 'use_kl', type: 'bool', default: false, group: ID, help: 'train on the variational bound (rescaled_kl)' },
  { name: 'predict_xstart', type: 'bool', default: false, group: ID, help: 'the model predicts x_0 instead of ε' },
  { name: 'rescale_timesteps', type: 'bool', default: true, group: ID, help: 'the model sees t scaled to [0, 1000)' },
  { name: 'rescale_learned_sigmas', type: 'bool', default: true, group: ID, help: 'hybrid loss L_simple + λ·L_vlb (rescaled_mse)' },
  { name: 'use_checkpoint', type: 'bool', default: false, group: ID, help: 'gradient checkpointing (saves memory in PyTorch; accepted, no effect here)' },
  { name: 'use_scale_shift_norm', type: 'bool', default: true, group: ID, help: 'time embedding as GroupNorm scale and shift' },
  { name: 'channel_mult', type: 'str', default: '', group: GUIDED, help: 'channel multipliers per level, e.g. "1,2,2"; "" picks by image_size (32, 64, 128, 256)' },
  { name: 'num_head_channels', type: 'int', default: -1, group: GUIDED, help: 'channels per attention head; overrides num_heads when not -1' },
  { name: 'resblock_updown', type: 'bool', default: false, group: GUIDED, help: 'resample inside residual blocks (BigGAN style)' },
  { name: 'use_new_attention_order', type: 'bool', default: false, group: GUIDED, help: 'qkv split as (q|k|v), head, channel' },
  { name: 'num_classes', type: 'int', default: 1000, group: DIFFLIB, help: "classes of a class_cond model (improved-diffusion's NUM_CLASSES)" },
];

/** Flags every command takes: where it runs and where it writes. */
export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: 'backend', type: 'str', default: 'auto', group: DIFFLIB, help: 'tensorflow (@tensorflow/tfjs-node), wasm, cpu, or auto: the first of these installed' },
  { name: 'threads', type: 'int', default: null, group: DIFFLIB, help: 'threads of the wasm backend (default: the cores, at most 8)' },
  { name: 'log_dir', type: 'str', default: '', group: DIFFLIB, help: 'where the outputs go; "" means $OPENAI_LOGDIR, else a new /tmp/openai-<date> directory' },
  { name: 'seed', type: 'int', default: null, group: DIFFLIB, help: 'seed of every random draw (default: a random one, logged)' },
];

/** scripts/image_train.py's create_argparser() defaults. */
export const TRAIN_FLAGS: readonly FlagSpec[] = [
  { name: 'data_dir', type: 'str', default: '', group: ID, help: 'folder of .png/.jpg/.jpeg/.gif images, searched recursively (required)' },
  { name: 'schedule_sampler', type: 'str', default: 'uniform', group: ID, help: 'uniform or loss-second-moment' },
  { name: 'lr', type: 'float', default: 1e-4, group: ID, help: 'AdamW learning rate' },
  { name: 'weight_decay', type: 'float', default: 0.0, group: ID, help: "AdamW's decoupled weight decay" },
  { name: 'lr_anneal_steps', type: 'int', default: 0, group: ID, help: 'decay lr linearly to 0 at this step, and stop there (0: no decay)' },
  { name: 'batch_size', type: 'int', default: 1, group: ID, help: 'images per step' },
  { name: 'microbatch', type: 'int', default: -1, group: ID, help: 'accumulate gradients over slices of this many (-1: whole batch)' },
  { name: 'ema_rate', type: 'str', default: '0.9999', group: ID, help: 'EMA rates of the weights, comma-separated' },
  { name: 'log_interval', type: 'int', default: 10, group: ID, help: 'steps between logged averages' },
  { name: 'save_interval', type: 'int', default: 10000, group: ID, help: 'steps between checkpoints' },
  { name: 'resume_checkpoint', type: 'str', default: '', group: ID, help: 'a model<step> file to continue from: with opt<step>/ beside it exactly, else from its weights' },
  { name: 'use_fp16', type: 'bool', default: false, group: ID, help: 'mixed precision (accepted; difflib trains in float32)' },
  { name: 'fp16_scale_growth', type: 'float', default: 1e-3, group: ID, help: 'loss-scale growth of use_fp16 (accepted, no effect)' },
  { name: 'max_steps', type: 'int', default: 0, group: DIFFLIB, help: 'stop when the step count reaches this (0: never, as improved-diffusion, unless lr_anneal_steps)' },
];

/** scripts/image_sample.py's create_argparser() defaults. */
export const SAMPLE_FLAGS: readonly FlagSpec[] = [
  { name: 'clip_denoised', type: 'bool', default: true, group: ID, help: 'clip x̂_0 to [-1, 1] at each step' },
  { name: 'num_samples', type: 'int', default: 10000, group: ID, help: 'images to generate' },
  { name: 'batch_size', type: 'int', default: 16, group: ID, help: 'images per sampling batch' },
  { name: 'use_ddim', type: 'bool', default: false, group: ID, help: 'DDIM (η = 0) instead of ancestral sampling' },
  { name: 'model_path', type: 'str', default: '', group: ID, help: 'the model: a difflib model file, or a state dict as .pt or .safetensors (required)' },
  { name: 'scheduler', type: 'str', default: '', group: DIFFLIB, help: 'sample with a diffusers scheduler instead: a class name (DDIMScheduler, EulerDiscreteScheduler, ...) or a scheduler_config.json' },
];

/** scripts/image_nll.py's create_argparser() defaults. */
export const NLL_FLAGS: readonly FlagSpec[] = [
  { name: 'data_dir', type: 'str', default: '', group: ID, help: 'folder of images to score, read in order (required)' },
  { name: 'clip_denoised', type: 'bool', default: true, group: ID, help: 'clip x̂_0 to [-1, 1] in the bound terms' },
  { name: 'num_samples', type: 'int', default: 1000, group: ID, help: 'images to score (the folder is cycled if it has fewer)' },
  { name: 'batch_size', type: 'int', default: 1, group: ID, help: 'images per batch' },
  { name: 'model_path', type: 'str', default: '', group: ID, help: 'the model: a difflib model file, or a state dict as .pt or .safetensors (required)' },
];
