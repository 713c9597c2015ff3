// A block of docs/schedulers.md ("Loading a diffusers scheduler_config.json"): the lines between
// the region markers, then its numbers as one `RESULT {json}` line.
//   node examples/guides/schedulers-from-config.mjs
// #region from-config
import { DifflibError, schedulerFromConfig } from 'difflib';

// Stable Diffusion 1.5's scheduler/scheduler_config.json, as diffusers 0.6 wrote it:
const json = `{
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
}`;
const warnings = [];
const pndm = schedulerFromConfig(JSON.parse(json), { warn: (message) => warnings.push(message) });
// warnings: config.clip_sample (false) is not a PNDMScheduler option difflib knows; ignored.
pndm.setTimesteps(50);
pndm.toConfig(); // every PNDMScheduler key, defaults filled in, with _class_name

// Another scheduler on the same betas, as diffusers' EulerDiscreteScheduler.from_config(pndm.config):
// the keys the target class has, taken over; the others left behind.
const eulerKeys = schedulerFromConfig({ _class_name: 'EulerDiscreteScheduler' }).config;
const euler = schedulerFromConfig({
  _class_name: 'EulerDiscreteScheduler',
  ...Object.fromEntries(Object.entries(pndm.config).filter(([key]) => key in eulerKeys)),
});

// A key difflib does not know is refused when its value would change the results:
try {
  schedulerFromConfig({ ...JSON.parse(json), use_karras_sigmas: true });
} catch (error) {
  if (!(error instanceof DifflibError)) throw error;
  console.log(error.message); // schedulerFromConfig: config.use_karras_sigmas is not implemented by difflib's PNDMScheduler …
}
// #endregion from-config

let refused = null;
try {
  schedulerFromConfig({ ...JSON.parse(json), use_karras_sigmas: true });
} catch (error) {
  refused = { code: error.code, argument: error.argument };
}
euler.setTimesteps(50);
console.log(`RESULT ${JSON.stringify({
  className: pndm.toConfig()._class_name,
  config: pndm.toConfig(),
  timesteps: Array.from(pndm.timesteps),
  warnings,
  euler: { config: euler.toConfig(), timesteps: Array.from(euler.timesteps), initNoiseSigma: euler.initNoiseSigma },
  refused,
})}`);
