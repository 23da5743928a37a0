//! The network's tensor inventory: every parameter and buffer with its name and shape, in PyTorch
//! `state_dict` order. One table drives construction, loading, saving and weight verification, so
//! names cannot drift between them.

use crate::density::density_head_specs;
use crate::Head;

/// One ResNet50 stage: its torchvision name, block count, bottleneck width and first-block stride.
pub(crate) struct StageSpec {
    pub name: &'static str,
    pub blocks: usize,
    pub width: usize,
    pub stride: usize,
}

/// ResNet50's four stages (torchvision v1.5: the stride sits on each stage's first 3×3 conv).
pub(crate) const RESNET50_STAGES: [StageSpec; 4] = [
    StageSpec {
        name: "layer1",
        blocks: 3,
        width: 64,
        stride: 1,
    },
    StageSpec {
        name: "layer2",
        blocks: 4,
        width: 128,
        stride: 2,
    },
    StageSpec {
        name: "layer3",
        blocks: 6,
        width: 256,
        stride: 2,
    },
    StageSpec {
        name: "layer4",
        blocks: 3,
        width: 512,
        stride: 2,
    },
];

/// Bottleneck channel expansion: a block's output has `4 * width` channels.
pub(crate) const EXPANSION: usize = 4;

/// The decoder's 1×1 / 3×3 `Conv` blocks as `(name, in, out, kernel)` and `Deconv` blocks as
/// `(name, in, out)`, in the seed module's registration order.
pub(crate) const DECODER_CONVS: [(&str, usize, usize, usize); 6] = [
    ("conv_5", 2048, 512, 1),
    ("conv_4", 1536, 512, 1),
    ("conv_3", 768, 256, 1),
    ("conv_2", 384, 128, 1),
    ("conv_1", 128, 64, 1),
    ("conv_0", 32, 1, 3),
];
pub(crate) const DECODER_DECONVS: [(&str, usize, usize); 5] = [
    ("deconv4", 512, 512),
    ("deconv3", 512, 256),
    ("deconv2", 256, 128),
    ("deconv1", 128, 64),
    ("deconv0", 64, 32),
];

fn push_bn(out: &mut Vec<(String, Vec<usize>)>, prefix: &str, c: usize) {
    for field in ["weight", "bias", "running_mean", "running_var"] {
        out.push((format!("{prefix}.{field}"), vec![c]));
    }
}

fn push_conv(out: &mut Vec<(String, Vec<usize>)>, prefix: &str, o: usize, i: usize, k: usize) {
    out.push((format!("{prefix}.weight"), vec![o, i, k, k]));
}

/// Every ResNet50 backbone parameter and buffer (`running_mean`/`running_var`; not
/// `num_batches_tracked`, not `fc.*`) in torchvision naming with its shape, in `state_dict` order.
pub fn resnet50_backbone_specs() -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    push_conv(&mut out, "conv1", 64, 3, 7);
    push_bn(&mut out, "bn1", 64);
    let mut in_ch = 64;
    for stage in &RESNET50_STAGES {
        let w = stage.width;
        for b in 0..stage.blocks {
            let p = format!("{}.{b}", stage.name);
            push_conv(&mut out, &format!("{p}.conv1"), w, in_ch, 1);
            push_bn(&mut out, &format!("{p}.bn1"), w);
            push_conv(&mut out, &format!("{p}.conv2"), w, w, 3);
            push_bn(&mut out, &format!("{p}.bn2"), w);
            push_conv(&mut out, &format!("{p}.conv3"), w * EXPANSION, w, 1);
            push_bn(&mut out, &format!("{p}.bn3"), w * EXPANSION);
            if b == 0 {
                push_conv(
                    &mut out,
                    &format!("{p}.downsample.0"),
                    w * EXPANSION,
                    in_ch,
                    1,
                );
                push_bn(&mut out, &format!("{p}.downsample.1"), w * EXPANSION);
            }
            in_ch = w * EXPANSION;
        }
    }
    out
}

/// Every decoder parameter and buffer in the seed's naming with its shape, in `state_dict` order
/// (the seed registers `conv_5..conv_0` before `deconv4..deconv0`).
pub fn decoder_specs() -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (name, i, o, k) in DECODER_CONVS {
        push_conv(&mut out, &format!("{name}.0"), o, i, k);
        push_bn(&mut out, &format!("{name}.1"), o);
    }
    for (name, i, o) in DECODER_DECONVS {
        // ConvTranspose2d weights are (in, out, k, k).
        out.push((format!("{name}.0.weight"), vec![i, o, 4, 4]));
        push_bn(&mut out, &format!("{name}.1"), o);
    }
    out
}

/// The whole network's parameters and buffers in the seed's `state_dict` order (backbone, then
/// decoder), without `num_batches_tracked`: the seed head's network.
pub fn saliency_net_specs() -> Vec<(String, Vec<usize>)> {
    let mut out = resnet50_backbone_specs();
    out.extend(decoder_specs());
    out
}

/// Whether a tensor belongs to the seed head's last block (`conv_0`), which the density head
/// replaces.
fn is_seed_head(name: &str) -> bool {
    name.starts_with("conv_0.")
}

/// The network with `head`: the seed's inventory, or the seed's without `conv_0.*` followed by
/// the density head's three parameters ([`crate::density::density_head_specs`]).
pub fn net_specs(head: Head) -> Vec<(String, Vec<usize>)> {
    match head {
        Head::Seed => saliency_net_specs(),
        Head::Density => {
            let mut out: Vec<_> = saliency_net_specs()
                .into_iter()
                .filter(|(name, _)| !is_seed_head(name))
                .collect();
            out.extend(density_head_specs());
            out
        }
    }
}

/// Whether a tensor name is a BatchNorm running statistic (a buffer, never a parameter).
pub fn is_buffer(name: &str) -> bool {
    name.ends_with(".running_mean") || name.ends_with(".running_var")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_count(specs: &[(String, Vec<usize>)]) -> usize {
        specs
            .iter()
            .filter(|(n, _)| !is_buffer(n))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    #[test]
    fn resnet50_backbone_matches_torchvision_counts() {
        let specs = resnet50_backbone_specs();
        // torchvision resnet50 has 25,557,032 parameters, of which fc holds 2048*1000+1000.
        assert_eq!(param_count(&specs), 25_557_032 - 2_049_000);
        // 53 convs + 53 BNs * 4 tensors.
        assert_eq!(specs.len(), 53 + 53 * 4);
        assert_eq!(specs[0], ("conv1.weight".to_string(), vec![64, 3, 7, 7]));
        assert_eq!(specs.last().unwrap().0, "layer4.2.bn3.running_var");
    }

    #[test]
    fn whole_net_matches_seed_parameter_count() {
        assert_eq!(param_count(&saliency_net_specs()), 32_581_794);
        assert_eq!(net_specs(Head::Seed), saliency_net_specs());
    }

    #[test]
    fn density_net_swaps_conv_0_for_the_density_head() {
        let specs = net_specs(Head::Density);
        assert!(specs.iter().all(|(n, _)| !n.starts_with("conv_0.")));
        // conv_0: 32*9 weights + 2 BN parameters; density: 32*9 readout + 1 sigma + 32*32 prior.
        assert_eq!(
            param_count(&specs),
            32_581_794 - (32 * 9 + 2) + (32 * 9 + 1 + 32 * 32)
        );
        let tail: Vec<&str> = specs[specs.len() - 3..]
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            tail,
            [
                "density.readout.weight",
                "density.blur.log_sigma",
                "density.prior.log_density"
            ]
        );
    }
}
