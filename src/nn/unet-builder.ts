import * as tfl from '@tensorflow/tfjs-layers';
import { GroupNormalization } from './layers/group-normalization';
import { NearestUpsampling2D } from './layers/nearest-upsampling';
import { QKVAttention } from './layers/qkv-attention';
import { TimeConditioning } from './layers/time-conditioning';
import { TimestepEmbeddingLayer } from './layers/timestep-embedding-layer';
import { NORM_GROUPS, attentionHeads, type ResolvedUNetConfig } from './unet-config';

type Sym = tfl.SymbolicTensor;

/** The functional graph of an ADM U-Net, with the output of every named block. */
export interface UNetGraph {
  inputs: Sym[];
  output: Sym;
  /** `time_embed`, `input_blocks.<i>`, `middle_block`, `output_blocks.<i>` → their outputs. */
  blocks: Map<string, Sym>;
}

/**
 * PyTorch's default init for conv and linear weights, U(±1/√fan_in)
 * (kaiming_uniform with a = √5), so a fresh model trains like the reference.
 */
const torchDefaultInit = () => tfl.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform' });

/**
 * Builds the U-Net of improved-diffusion / guided-diffusion as a tfjs-layers graph.
 * Every layer with weights is named after its PyTorch module path
 * (`input_blocks.1.0.in_layers.2`), which is what weight import and export map on.
 * @internal
 */
export function buildUNetGraph(c: ResolvedUNetConfig): UNetGraph {
  const timeEmbedDim = c.modelChannels * 4;
  const blocks = new Map<string, Sym>();

  const conv = (name: string, filters: number, kernelSize: number, zeroInit = false) =>
    tfl.layers.conv2d({
      name,
      filters,
      kernelSize,
      padding: 'same',
      kernelInitializer: zeroInit ? 'zeros' : torchDefaultInit(),
    });
  const dense = (name: string, units: number, zeroInit = false) =>
    tfl.layers.dense({ name, units, kernelInitializer: zeroInit ? 'zeros' : torchDefaultInit() });
  // GroupNorm, optionally with ADM's scale-shift and the SiLU after it, in one layer (one fused kernel on wasm).
  const norm = (name: string, then: { scaleShift?: boolean; silu?: boolean } = {}) =>
    new GroupNormalization({ name, groups: NORM_GROUPS, scaleShift: then.scaleShift ?? false, activation: then.silu ? 'silu' : 'linear' });
  const silu = (x: Sym) => tfl.layers.activation({ activation: 'swish' }).apply(x) as Sym;
  const apply = (layer: tfl.layers.Layer, x: Sym | Sym[]) => layer.apply(x) as Sym;

  // PyTorch's stride-2 conv pads 1 on every side; tfjs 'same' would pad only after.
  const downsample = (name: string, x: Sym, useConv: boolean): Sym =>
    useConv
      ? apply(
          tfl.layers.conv2d({ name: `${name}.op`, filters: x.shape[3]!, kernelSize: 3, strides: 2, padding: 'valid', kernelInitializer: torchDefaultInit() }),
          apply(tfl.layers.zeroPadding2d({ padding: 1 }), x),
        )
      : apply(tfl.layers.averagePooling2d({ poolSize: 2, strides: 2 }), x);
  const upsample = (name: string, x: Sym, useConv: boolean): Sym => {
    const up = apply(new NearestUpsampling2D({}), x);
    return useConv ? apply(conv(`${name}.conv`, x.shape[3]!, 3), up) : up;
  };

  const resBlock = (name: string, x: Sym, emb: Sym, outCh: number, updown?: 'up' | 'down'): Sym => {
    const inCh = x.shape[3]!;
    let h = apply(norm(`${name}.in_layers.0`, { silu: true }), x);
    let skip = x;
    if (updown) {
      const resample = updown === 'up' ? upsample : downsample;
      h = resample(name, h, false);
      skip = resample(name, x, false);
    }
    h = apply(conv(`${name}.in_layers.2`, outCh, 3), h);
    const e = apply(dense(`${name}.emb_layers.1`, c.useScaleShiftNorm ? 2 * outCh : outCh), silu(emb));
    h = c.useScaleShiftNorm
      ? apply(norm(`${name}.out_layers.0`, { scaleShift: true, silu: true }), [h, e])
      : apply(norm(`${name}.out_layers.0`, { silu: true }), apply(new TimeConditioning({ scaleShift: false }), [h, e]));
    if (c.dropout > 0) h = apply(tfl.layers.dropout({ rate: c.dropout }), h);
    h = apply(conv(`${name}.out_layers.3`, outCh, 3, true), h);
    if (outCh !== inCh) skip = apply(conv(`${name}.skip_connection`, outCh, 1), skip);
    return apply(tfl.layers.add(), [skip, h]);
  };

  const attention = (name: string, x: Sym, heads: number): Sym => {
    const ch = x.shape[3]!;
    const qkv = apply(dense(`${name}.qkv`, 3 * ch), apply(norm(`${name}.norm`), x));
    const attended = apply(new QKVAttention({ numHeads: heads, order: c.useNewAttentionOrder ? 'new' : 'legacy' }), qkv);
    return apply(tfl.layers.add(), [x, apply(dense(`${name}.proj_out`, ch, true), attended)]);
  };

  // Timesteps and labels are [B, 1], not [B]: Keras-style predict() expands rank-1
  // inputs to [B, 1] before checking them.
  const x = tfl.input({ name: 'x', shape: [c.imageSize, c.imageSize, c.inChannels] });
  const timesteps = tfl.input({ name: 'timesteps', shape: [1] });
  const inputs = [x, timesteps];

  let emb = apply(new TimestepEmbeddingLayer({ dim: c.modelChannels }), timesteps);
  emb = apply(dense('time_embed.2', timeEmbedDim), silu(apply(dense('time_embed.0', timeEmbedDim), emb)));
  blocks.set('time_embed', emb);
  if (c.numClasses !== null) {
    const y = tfl.input({ name: 'y', shape: [1], dtype: 'int32' });
    inputs.push(y);
    const labelEmb = apply(tfl.layers.embedding({ name: 'label_emb', inputDim: c.numClasses, outputDim: timeEmbedDim }), y);
    emb = apply(tfl.layers.add(), [emb, apply(tfl.layers.flatten(), labelEmb)]);
  }

  // Down path: input_blocks.<i> = [ResBlock, Attention?] or a Downsample.
  let index = 0;
  let h = apply(conv('input_blocks.0.0', c.modelChannels, 3), x);
  blocks.set(`input_blocks.${index++}`, h);
  const skips: Sym[] = [h];
  let ds = 1;
  c.channelMult.forEach((mult, level) => {
    for (let r = 0; r < c.numResBlocks; r++) {
      const name = `input_blocks.${index}`;
      h = resBlock(`${name}.0`, h, emb, c.modelChannels * mult);
      if (c.attentionResolutions.includes(ds)) h = attention(`${name}.1`, h, attentionHeads(c, h.shape[3]!, false));
      blocks.set(name, h);
      skips.push(h);
      index++;
    }
    if (level !== c.channelMult.length - 1) {
      const name = `input_blocks.${index}`;
      h = c.resblockUpdown ? resBlock(`${name}.0`, h, emb, h.shape[3]!, 'down') : downsample(`${name}.0`, h, c.convResample);
      blocks.set(name, h);
      skips.push(h);
      index++;
      ds *= 2;
    }
  });

  h = resBlock('middle_block.0', h, emb, h.shape[3]!);
  h = attention('middle_block.1', h, attentionHeads(c, h.shape[3]!, false));
  h = resBlock('middle_block.2', h, emb, h.shape[3]!);
  blocks.set('middle_block', h);

  // Up path: output_blocks.<i> = [ResBlock on concat(h, skip), Attention?, Upsample?].
  index = 0;
  [...c.channelMult.entries()].reverse().forEach(([level, mult]) => {
    for (let r = 0; r <= c.numResBlocks; r++) {
      const name = `output_blocks.${index}`;
      let part = 0;
      h = apply(tfl.layers.concatenate({ axis: -1 }), [h, skips.pop()!]);
      h = resBlock(`${name}.${part++}`, h, emb, c.modelChannels * mult);
      if (c.attentionResolutions.includes(ds)) h = attention(`${name}.${part++}`, h, attentionHeads(c, h.shape[3]!, true));
      if (level > 0 && r === c.numResBlocks) {
        const upName = `${name}.${part++}`;
        h = c.resblockUpdown ? resBlock(upName, h, emb, h.shape[3]!, 'up') : upsample(upName, h, c.convResample);
        ds /= 2;
      }
      blocks.set(name, h);
      index++;
    }
  });

  h = apply(conv('out.2', c.outChannels, 3, true), apply(norm('out.0', { silu: true }), h));
  return { inputs, output: h, blocks };
}
