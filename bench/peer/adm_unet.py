"""The ADM U-Net of openai/improved-diffusion (`UNetModel`) in PyTorch: the peer that
difflib's createUNet is benchmarked against.

It builds the modules of improved_diffusion/unet.py and nn.py with the same
state_dict keys and arithmetic: timestep embedding [cos, sin], GroupNorm32 (32 groups,
computed in float32), ResBlocks with the embedding added or applied as GroupNorm
scale-shift, attention with the legacy qkv channel order [head, (q|k|v), ch], and the
reference's zero-initialised out convolutions. Written for 2-D images only, without
gradient checkpointing or float16. All tensors are NCHW.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(timesteps, dim, max_period=10000):
    """[B] timesteps (int or float) -> [B, dim] float32: [cos(t·f), sin(t·f)], f_i = max_period^(-i/(dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(embedding, (0, dim % 2))


class GroupNorm32(nn.GroupNorm):
    """GroupNorm over 32 groups (eps 1e-5), computed in float32 whatever the input dtype."""

    def __init__(self, channels):
        super().__init__(32, channels)

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def zero_module(module):
    """Zeroes the module's parameters (the reference's init of out convolutions) and returns it."""
    for p in module.parameters():
        p.detach().zero_()
    return module


class ResBlock(nn.Module):
    """[B, channels, H, W] and emb [B, emb_channels] -> [B, out_channels, H, W]."""

    def __init__(self, channels, emb_channels, dropout, out_channels, use_scale_shift_norm):
        super().__init__()
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels)
        )
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x, emb):
        h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = torch.chunk(emb_out, 2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


def qkv_attention_legacy(qkv, num_heads):
    """[B, 3·C, T] with channels [head, (q|k|v), ch] -> [B, C, T]: softmax((q/ch^¼)ᵀ(k/ch^¼)) over keys, applied to v."""
    b, width, length = qkv.shape
    ch = width // (3 * num_heads)
    q, k, v = qkv.reshape(b * num_heads, 3 * ch, length).split(ch, dim=1)
    scale = 1 / math.sqrt(math.sqrt(ch))
    weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
    weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
    return torch.einsum("bts,bcs->bct", weight, v).reshape(b, -1, length)


class AttentionBlock(nn.Module):
    """Self-attention over the H·W positions, residual: [B, C, H, W] -> [B, C, H, W]."""

    def __init__(self, channels, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x):
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        h = self.proj_out(qkv_attention_legacy(self.qkv(self.norm(x)), self.num_heads))
        return (x + h).reshape(b, c, *spatial)


class Downsample(nn.Module):
    """Halves H and W: a stride-2 3×3 conv (padding 1) or 2×2 average pooling."""

    def __init__(self, channels, use_conv):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    """Doubles H and W by nearest-neighbour repetition, then an optional 3×3 conv."""

    def __init__(self, channels, use_conv):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1) if use_conv else None

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class TimestepEmbedSequential(nn.Sequential):
    """A sequence of layers; ResBlocks also get the embedding."""

    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class UNetModel(nn.Module):
    """improved-diffusion's UNetModel (same keyword arguments, `dims` 2, no checkpointing).

    forward(x [B, in_channels, S, S] float32, timesteps [B], y [B] labels when
    class-conditional) -> [B, out_channels, S, S]. `attention_resolutions` holds
    downsample rates (2: attention at S/2).
    """

    def __init__(
        self,
        in_channels,
        model_channels,
        out_channels,
        num_res_blocks,
        attention_resolutions,
        dropout=0,
        channel_mult=(1, 2, 4, 8),
        conv_resample=True,
        num_classes=None,
        num_heads=1,
        num_heads_upsample=-1,
        use_scale_shift_norm=False,
    ):
        super().__init__()
        if num_heads_upsample == -1:
            num_heads_upsample = num_heads
        self.model_channels = model_channels
        self.num_classes = num_classes
        emb_dim = model_channels * 4

        def res_block(ch, out_ch):
            return ResBlock(ch, emb_dim, dropout, out_ch, use_scale_shift_norm)

        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb_dim)

        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, model_channels, 3, padding=1))])
        skip_channels = [model_channels]
        ch, ds = model_channels, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [res_block(ch, mult * model_channels)]
                ch = mult * model_channels
                if ds in attention_resolutions:
                    layers.append(AttentionBlock(ch, num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch, conv_resample)))
                skip_channels.append(ch)
                ds *= 2

        self.middle_block = TimestepEmbedSequential(res_block(ch, ch), AttentionBlock(ch, num_heads), res_block(ch, ch))

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                layers = [res_block(ch + skip_channels.pop(), model_channels * mult)]
                ch = model_channels * mult
                if ds in attention_resolutions:
                    layers.append(AttentionBlock(ch, num_heads_upsample))
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch, conv_resample))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            GroupNorm32(ch), nn.SiLU(), zero_module(nn.Conv2d(model_channels, out_channels, 3, padding=1))
        )

    def forward(self, x, timesteps, y=None):
        if (y is not None) != (self.num_classes is not None):
            raise ValueError("y must be given if and only if the model is class-conditional")
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        if y is not None:
            emb = emb + self.label_emb(y)
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)


# difflib's createUNet config (camelCase) -> UNetModel keyword arguments.
_KWARGS = {
    "inChannels": "in_channels",
    "modelChannels": "model_channels",
    "outChannels": "out_channels",
    "numResBlocks": "num_res_blocks",
    "attentionResolutions": "attention_resolutions",
    "dropout": "dropout",
    "channelMult": "channel_mult",
    "convResample": "conv_resample",
    "numClasses": "num_classes",
    "numHeads": "num_heads",
    "numHeadsUpsample": "num_heads_upsample",
    "useScaleShiftNorm": "use_scale_shift_norm",
}
# guided-diffusion options improved-diffusion lacks: accepted only at their defaults.
_GUIDED_ONLY = {"numHeadChannels": -1, "resblockUpdown": False, "useNewAttentionOrder": False}
# They describe the data, not the modules (outChannels already counts the variance part).
_DATA_ONLY = {"imageSize", "learnSigma"}


def from_config(config):
    """Builds the UNetModel that difflib's createUNet(config) builds; `config` is its camelCase object."""
    unknown = sorted(set(config) - set(_KWARGS) - set(_GUIDED_ONLY) - _DATA_ONLY)
    if unknown:
        raise ValueError(f"unknown createUNet config keys: {', '.join(unknown)}")
    for key, default in _GUIDED_ONLY.items():
        if config.get(key, default) != default:
            raise ValueError(f"config.{key} = {config[key]!r} is a guided-diffusion option this improved-diffusion peer lacks")
    return UNetModel(**{_KWARGS[k]: v for k, v in config.items() if k in _KWARGS})


def count_parameters(model):
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
