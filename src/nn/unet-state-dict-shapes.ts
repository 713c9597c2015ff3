import type { ResolvedUNetConfig } from './unet-config';

/** The parts of a U-Net configuration that decide its parameters' names and shapes. */
export type UNetStructure = Pick<
  ResolvedUNetConfig,
  | 'inChannels'
  | 'modelChannels'
  | 'outChannels'
  | 'numResBlocks'
  | 'attentionResolutions'
  | 'channelMult'
  | 'convResample'
  | 'numClasses'
  | 'useScaleShiftNorm'
  | 'resblockUpdown'
>;

/**
 * The PyTorch state dict of the U-Net {@link createUNet} builds for `c`: every key of
 * improved/guided-diffusion's `UNetModel` with its PyTorch shape (conv OIHW, linear
 * [out, in], the attention's `qkv` / `proj_out` 1-D convs [out, in, 1]), in
 * `state_dict()` order. Pure shape logic: no layer or tensor is made.
 *
 * With E = 4 · modelChannels (the time embedding's width) and ch the block's channels:
 * ResBlock(in → out): `in_layers.0` [in], `in_layers.2` [out, in, 3, 3],
 * `emb_layers.1` [out or 2·out with scale-shift norm, E], `out_layers.0` [out],
 * `out_layers.3` [out, out, 3, 3], `skip_connection` [out, in, 1, 1] when in ≠ out;
 * AttentionBlock(ch): `norm` [ch], `qkv` [3·ch, ch, 1], `proj_out` [ch, ch, 1].
 * @internal
 */
export function unetStateDictShapes(c: UNetStructure): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const emb = 4 * c.modelChannels;
  const param = (name: string, weight: number[], bias: number) => {
    shapes.set(`${name}.weight`, weight);
    shapes.set(`${name}.bias`, [bias]);
  };
  const resBlock = (name: string, inCh: number, outCh: number) => {
    param(`${name}.in_layers.0`, [inCh], inCh);
    param(`${name}.in_layers.2`, [outCh, inCh, 3, 3], outCh);
    param(`${name}.emb_layers.1`, [c.useScaleShiftNorm ? 2 * outCh : outCh, emb], c.useScaleShiftNorm ? 2 * outCh : outCh);
    param(`${name}.out_layers.0`, [outCh], outCh);
    param(`${name}.out_layers.3`, [outCh, outCh, 3, 3], outCh);
    if (inCh !== outCh) param(`${name}.skip_connection`, [outCh, inCh, 1, 1], outCh);
  };
  const attention = (name: string, ch: number) => {
    param(`${name}.norm`, [ch], ch);
    param(`${name}.qkv`, [3 * ch, ch, 1], 3 * ch);
    param(`${name}.proj_out`, [ch, ch, 1], ch);
  };

  param('time_embed.0', [emb, c.modelChannels], emb);
  param('time_embed.2', [emb, emb], emb);
  if (c.numClasses !== null) shapes.set('label_emb.weight', [c.numClasses, emb]);

  param('input_blocks.0.0', [c.modelChannels, c.inChannels, 3, 3], c.modelChannels);
  const skips = [c.modelChannels];
  let ch = c.modelChannels;
  let index = 1;
  let ds = 1;
  c.channelMult.forEach((mult, level) => {
    for (let r = 0; r < c.numResBlocks; r++) {
      const out = c.modelChannels * mult;
      resBlock(`input_blocks.${index}.0`, ch, out);
      ch = out;
      if (c.attentionResolutions.includes(ds)) attention(`input_blocks.${index}.1`, ch);
      skips.push(ch);
      index++;
    }
    if (level !== c.channelMult.length - 1) {
      // A Downsample without conv (average pooling) has no parameters: its index has no keys.
      if (c.resblockUpdown) resBlock(`input_blocks.${index}.0`, ch, ch);
      else if (c.convResample) param(`input_blocks.${index}.0.op`, [ch, ch, 3, 3], ch);
      skips.push(ch);
      index++;
      ds *= 2;
    }
  });

  resBlock('middle_block.0', ch, ch);
  attention('middle_block.1', ch);
  resBlock('middle_block.2', ch, ch);

  index = 0;
  [...c.channelMult.entries()].reverse().forEach(([level, mult]) => {
    for (let r = 0; r <= c.numResBlocks; r++) {
      const out = c.modelChannels * mult;
      let part = 0;
      resBlock(`output_blocks.${index}.${part++}`, ch + skips.pop()!, out);
      ch = out;
      if (c.attentionResolutions.includes(ds)) attention(`output_blocks.${index}.${part++}`, ch);
      if (level > 0 && r === c.numResBlocks) {
        // Likewise an Upsample without conv (nearest neighbour) has none.
        if (c.resblockUpdown) resBlock(`output_blocks.${index}.${part}`, ch, ch);
        else if (c.convResample) param(`output_blocks.${index}.${part}.conv`, [ch, ch, 3, 3], ch);
        ds /= 2;
      }
      index++;
    }
  });

  param('out.0', [ch], ch);
  param('out.2', [c.outChannels, ch, 3, 3], c.outChannels);
  return shapes;
}
