// The benchmark configurations: a createUNet config, the batch the model is timed on,
// and the diffusion process around it. bench/peer/adm_unet.py builds the same
// networks in PyTorch from the `unet` objects below (written to JSON by bench:peer).
//
//   tiny:  the digits example's model (16×16×1, 0.7M params): a quick smoke run.
//   small: a 32×32×3 ADM U-Net of 64 channels (≈ the size of the shared DDPM peer net, torch_unet_ref.py).
//   cifar: improved-diffusion's CIFAR-10 model (`--num_channels 128 --num_res_blocks 3
//          --learn_sigma True --dropout 0.3`, its defaults: attention at 16 and 8, 4 heads,
//          scale-shift norm), 52M params.

/** @type {Record<string, { description: string, unet: object, batch: number, timesteps: number }>} */
export const CONFIGS = {
  tiny: {
    description: '16×16×1, 32 ch, mult 1,2, 1 res block, attention 8×8, learned σ',
    unet: {
      imageSize: 16, inChannels: 1, modelChannels: 32, outChannels: 2, learnSigma: true,
      numResBlocks: 1, attentionResolutions: [2], channelMult: [1, 2], numHeads: 2,
    },
    batch: 4,
    timesteps: 1000,
  },
  small: {
    description: '32×32×3, 64 ch, mult 1,2,2, 2 res blocks, attention 16×16, scale-shift norm, learned σ',
    unet: {
      imageSize: 32, inChannels: 3, modelChannels: 64, outChannels: 6, learnSigma: true,
      numResBlocks: 2, attentionResolutions: [2], channelMult: [1, 2, 2], numHeads: 4, useScaleShiftNorm: true,
    },
    batch: 8,
    timesteps: 1000,
  },
  cifar: {
    description: 'improved-diffusion CIFAR-10: 32×32×3, 128 ch, mult 1,2,2,2, 3 res blocks, attention 16 and 8, 4 heads, scale-shift norm, dropout 0.3',
    unet: {
      imageSize: 32, inChannels: 3, modelChannels: 128, outChannels: 6, learnSigma: true,
      numResBlocks: 3, attentionResolutions: [2, 4], channelMult: [1, 2, 2, 2], numHeads: 4, dropout: 0.3,
      useScaleShiftNorm: true,
    },
    batch: 8,
    timesteps: 4000,
  },
};
