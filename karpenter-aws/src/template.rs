//! The node a scale-up adds, from an EC2 instance type: what it offers pods
//! after the system's overhead, its labels and its taints.
//!
//! Allocatable resources of an instance type (all numbers documented in
//! `docs/aws.md`, "Node templates"):
//!
//! - **pods**: the VPC CNI's ENI rule, ENIs × (IPv4 addresses per ENI − 1)
//!   plus 2 (e.g. 29 for an m5.large); [`DEFAULT_MAX_PODS`] when EC2 does
//!   not report the network limits;
//! - **cpu**: the vCPUs, minus kube-reserved (the Amazon EKS AMI's
//!   formula: 6% of the first core, 1% of the second, 0.5% of the third and
//!   fourth, 0.25% of every further core) and [`SYSTEM_RESERVED_CPU_MILLIS`];
//! - **memory**: the nominal memory, minus [`VM_OVERHEAD_PERMILLE`] for the
//!   hypervisor and kernel, kube-reserved (255 MiB + 11 MiB per pod, the
//!   Amazon EKS AMI's formula), [`SYSTEM_RESERVED_MEMORY_MIB`] and the
//!   kubelet's hard eviction threshold [`EVICTION_THRESHOLD_MIB`].
//!
//! Labels and taints come from the group's tags, in the convention Cluster
//! Autoscaler users already write:
//! `k8s.io/cluster-autoscaler/node-template/label/KEY = VALUE` and
//! `k8s.io/cluster-autoscaler/node-template/taint/KEY = VALUE:EFFECT`.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_ec2::types::{ArchitectureType, InstanceType};
use karpenter_core::cluster::{Resources, Taint, TaintEffect};
use karpenter_core::provider::{NodeTemplate, ProviderError, ProviderErrorKind, ProviderResult};

use crate::error::map_sdk_error;

/// Max pods when EC2 does not report an instance type's network limits
/// (the kubelet's default).
pub const DEFAULT_MAX_PODS: i64 = 110;
/// CPU reserved for the operating system's daemons, in millicores.
pub const SYSTEM_RESERVED_CPU_MILLIS: i64 = 100;
/// Memory reserved for the operating system's daemons, in MiB.
pub const SYSTEM_RESERVED_MEMORY_MIB: i64 = 100;
/// The kubelet's hard eviction threshold (`memory.available<100Mi`), in MiB.
pub const EVICTION_THRESHOLD_MIB: i64 = 100;
/// The share of nominal memory the hypervisor and kernel keep, in ‰
/// (Karpenter's default `VM_MEMORY_OVERHEAD_PERCENT` of 7.5%).
pub const VM_OVERHEAD_PERMILLE: i64 = 75;

/// Tag prefix of node labels.
pub const LABEL_TAG_PREFIX: &str = "k8s.io/cluster-autoscaler/node-template/label/";
/// Tag prefix of node taints.
pub const TAINT_TAG_PREFIX: &str = "k8s.io/cluster-autoscaler/node-template/taint/";

const MIB: i64 = 1 << 20;

/// What EC2 says about one instance type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTypeInfo {
    /// The instance type, e.g. `m5.large`.
    pub name: String,
    /// Default vCPUs.
    pub vcpus: i64,
    /// Nominal memory, MiB.
    pub memory_mib: i64,
    /// Network interfaces it can attach, if known.
    pub max_enis: Option<i64>,
    /// IPv4 addresses per interface, if known.
    pub ipv4_per_eni: Option<i64>,
    /// `amd64` or `arm64`, if known.
    pub arch: Option<&'static str>,
}

impl InstanceTypeInfo {
    /// Max pods by the VPC CNI's ENI rule, or [`DEFAULT_MAX_PODS`].
    pub fn max_pods(&self) -> i64 {
        match (self.max_enis, self.ipv4_per_eni) {
            (Some(enis), Some(ips)) if enis > 0 && ips > 1 => enis * (ips - 1) + 2,
            _ => DEFAULT_MAX_PODS,
        }
    }

    /// What a node of this type offers pods, after the overhead.
    pub fn allocatable(&self) -> Resources {
        let pods = self.max_pods();
        let cpu =
            self.vcpus * 1000 - kube_reserved_cpu_millis(self.vcpus) - SYSTEM_RESERVED_CPU_MILLIS;
        let vm_overhead_mib = (self.memory_mib * VM_OVERHEAD_PERMILLE + 999) / 1000;
        let memory_mib = self.memory_mib
            - vm_overhead_mib
            - kube_reserved_memory_mib(pods)
            - SYSTEM_RESERVED_MEMORY_MIB
            - EVICTION_THRESHOLD_MIB;
        Resources::new(cpu.max(0), memory_mib.max(0) * MIB, pods)
    }

    /// The node template: [`allocatable`](Self::allocatable), the
    /// well-known labels (`node.kubernetes.io/instance-type`,
    /// `kubernetes.io/arch`, `kubernetes.io/os`,
    /// `topology.kubernetes.io/region`), then `labels` and `taints`.
    pub fn template(
        &self,
        region: &str,
        labels: impl IntoIterator<Item = (String, String)>,
        taints: Vec<Taint>,
    ) -> NodeTemplate {
        let mut t = NodeTemplate::new(self.allocatable())
            .label("node.kubernetes.io/instance-type", &self.name)
            .label("kubernetes.io/os", "linux")
            .label("topology.kubernetes.io/region", region);
        if let Some(arch) = self.arch {
            t = t.label("kubernetes.io/arch", arch);
        }
        t.labels.extend(labels);
        t.taints = taints;
        t
    }
}

/// kube-reserved CPU for `vcpus` cores (the Amazon EKS AMI's formula), in
/// millicores: 60 for the first core, 10 for the second, 5 each for the
/// third and fourth, 2.5 for each further core (rounded up).
pub fn kube_reserved_cpu_millis(vcpus: i64) -> i64 {
    let tenths = match vcpus {
        i64::MIN..=0 => 0,
        1 => 600,
        2 => 700,
        3 => 750,
        4 => 800,
        n => 800 + (n - 4) * 25,
    };
    (tenths + 9) / 10
}

/// kube-reserved memory for `max_pods` pods (the Amazon EKS AMI's
/// formula): 255 MiB + 11 MiB per pod.
pub fn kube_reserved_memory_mib(max_pods: i64) -> i64 {
    255 + 11 * max_pods
}

/// Node labels, as key and value.
pub type Labels = Vec<(String, String)>;

/// Labels and taints from a group's tags (Cluster Autoscaler's
/// `node-template` convention). `object` names the group in errors.
pub fn labels_and_taints<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    object: &str,
) -> ProviderResult<(Labels, Vec<Taint>)> {
    let mut labels = Vec::new();
    let mut taints = Vec::new();
    for (key, value) in tags {
        if let Some(label) = key.strip_prefix(LABEL_TAG_PREFIX) {
            labels.push((label.to_string(), value.to_string()));
        } else if let Some(taint_key) = key.strip_prefix(TAINT_TAG_PREFIX) {
            let bad = |why: &str| {
                ProviderError::new(
                    ProviderErrorKind::Other,
                    format!(
                        "{object}: tag {key} = {value:?} {why}; write it as VALUE:EFFECT with EFFECT NoSchedule, PreferNoSchedule or NoExecute, e.g. true:NoSchedule"
                    ),
                )
            };
            let (taint_value, effect) =
                value.rsplit_once(':').ok_or_else(|| bad("has no effect"))?;
            let effect = match effect {
                "NoSchedule" => TaintEffect::NoSchedule,
                "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
                "NoExecute" => TaintEffect::NoExecute,
                _ => return Err(bad("has an unknown effect")),
            };
            taints.push(Taint {
                key: taint_key.to_string(),
                value: taint_value.to_string(),
                effect,
            });
        }
    }
    Ok((labels, taints))
}

/// The instance type of a launch template version (`$Default` when no
/// version is given), if it names one.
pub(crate) async fn launch_template_instance_type(
    ec2: &aws_sdk_ec2::Client,
    id: Option<&str>,
    name: Option<&str>,
    version: Option<&str>,
    object: &str,
) -> ProviderResult<Option<String>> {
    let out = ec2
        .describe_launch_template_versions()
        .set_launch_template_id(id.map(str::to_string))
        .set_launch_template_name(if id.is_some() {
            None
        } else {
            name.map(str::to_string)
        })
        .versions(version.unwrap_or("$Default"))
        .send()
        .await
        .map_err(|e| map_sdk_error(e, object, "DescribeLaunchTemplateVersions", "ec2"))?;
    Ok(out
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .and_then(|d| d.instance_type())
        .map(|t| t.as_str().to_string()))
}

/// Instance types already described, by name: a template costs one
/// `DescribeInstanceTypes` per type for the life of the provider.
#[derive(Debug, Default)]
pub struct InstanceTypeCache {
    known: Mutex<HashMap<String, InstanceTypeInfo>>,
}

impl InstanceTypeCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many instance types it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, InstanceTypeInfo>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What EC2 says about `instance_type`, described once.
    pub(crate) async fn get(
        &self,
        ec2: &aws_sdk_ec2::Client,
        instance_type: &str,
        object: &str,
    ) -> ProviderResult<InstanceTypeInfo> {
        if let Some(info) = self.lock().get(instance_type) {
            return Ok(info.clone());
        }
        let out = ec2
            .describe_instance_types()
            .instance_types(InstanceType::from(instance_type))
            .send()
            .await
            .map_err(|e| map_sdk_error(e, object, "DescribeInstanceTypes", "ec2"))?;
        let Some(it) = out.instance_types().first() else {
            return Err(ProviderError::new(
                ProviderErrorKind::NotFound,
                format!(
                    "{object}: EC2 does not know instance type {instance_type:?} in this region"
                ),
            ));
        };
        let missing = |what: &str| {
            ProviderError::new(
                ProviderErrorKind::Other,
                format!("{object}: DescribeInstanceTypes reports no {what} for {instance_type:?}"),
            )
        };
        let vcpus = it
            .v_cpu_info()
            .and_then(|v| v.default_v_cpus())
            .ok_or_else(|| missing("vCPU count"))?;
        let memory_mib = it
            .memory_info()
            .and_then(|m| m.size_in_mib())
            .ok_or_else(|| missing("memory size"))?;
        let network = it.network_info();
        let arch = it.processor_info().and_then(|p| {
            p.supported_architectures().iter().find_map(|a| match a {
                ArchitectureType::X8664 => Some("amd64"),
                ArchitectureType::Arm64 => Some("arm64"),
                _ => None,
            })
        });
        let info = InstanceTypeInfo {
            name: instance_type.to_string(),
            vcpus: i64::from(vcpus),
            memory_mib,
            max_enis: network
                .and_then(|n| n.maximum_network_interfaces())
                .map(i64::from),
            ipv4_per_eni: network
                .and_then(|n| n.ipv4_addresses_per_interface())
                .map(i64::from),
            arch,
        };
        self.lock().insert(instance_type.to_string(), info.clone());
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, vcpus: i64, memory_mib: i64, enis: i64, ips: i64) -> InstanceTypeInfo {
        InstanceTypeInfo {
            name: name.into(),
            vcpus,
            memory_mib,
            max_enis: Some(enis),
            ipv4_per_eni: Some(ips),
            arch: Some("amd64"),
        }
    }

    #[test]
    fn kube_reserved_cpu_follows_the_eks_ami_tiers() {
        // (vcpus, millicores): 60 + 10 + 5 + 5 + 2.5 per further core.
        for (vcpus, want) in [
            (1, 60),
            (2, 70),
            (3, 75),
            (4, 80),
            (5, 83),
            (8, 90),
            (96, 310),
        ] {
            assert_eq!(kube_reserved_cpu_millis(vcpus), want, "{vcpus} vCPUs");
        }
    }

    #[test]
    fn allocatable_by_hand() {
        // m5.large: 2 vCPU, 8 GiB, 3 ENIs of 10 addresses.
        // pods 3 × 9 + 2 = 29; cpu 2000 − 70 − 100 = 1830;
        // memory 8192 − ceil(614.4) − (255 + 319) − 100 − 100 = 6803 MiB.
        let m5 = info("m5.large", 2, 8192, 3, 10);
        assert_eq!(m5.max_pods(), 29);
        assert_eq!(m5.allocatable(), Resources::new(1830, 6803 * MIB, 29));
        // t3.medium: 2 vCPU, 4 GiB, 3 ENIs of 6 addresses.
        // pods 17; memory 4096 − ceil(307.2) − (255 + 187) − 200 = 3146 MiB.
        let t3 = info("t3.medium", 2, 4096, 3, 6);
        assert_eq!(t3.allocatable(), Resources::new(1830, 3146 * MIB, 17));
        // Unknown network limits: 110 pods.
        let odd = InstanceTypeInfo {
            max_enis: None,
            ..t3
        };
        assert_eq!(odd.max_pods(), DEFAULT_MAX_PODS);
    }

    #[test]
    fn template_labels_and_taints_from_tags() {
        let tags = [
            ("Name", "web"),
            ("k8s.io/cluster-autoscaler/node-template/label/team", "ml"),
            (
                "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu",
                "present:NoSchedule",
            ),
            (
                "k8s.io/cluster-autoscaler/node-template/taint/spot",
                ":PreferNoSchedule",
            ),
        ];
        let (labels, taints) = labels_and_taints(tags, "group").unwrap();
        let t = info("g5.xlarge", 4, 16384, 4, 15).template("us-west-2", labels, taints);
        assert_eq!(t.labels["team"], "ml");
        assert_eq!(t.labels["node.kubernetes.io/instance-type"], "g5.xlarge");
        assert_eq!(t.labels["kubernetes.io/arch"], "amd64");
        assert_eq!(t.labels["topology.kubernetes.io/region"], "us-west-2");
        assert_eq!(
            t.taints,
            vec![
                Taint {
                    key: "nvidia.com/gpu".into(),
                    value: "present".into(),
                    effect: TaintEffect::NoSchedule
                },
                Taint {
                    key: "spot".into(),
                    value: String::new(),
                    effect: TaintEffect::PreferNoSchedule
                },
            ]
        );
        for bad in ["true", "true:Never"] {
            let err = labels_and_taints(
                [("k8s.io/cluster-autoscaler/node-template/taint/x", bad)],
                "group g",
            )
            .unwrap_err();
            assert!(
                err.message.contains("group g") && err.message.contains("VALUE:EFFECT"),
                "{err}"
            );
        }
    }
}
