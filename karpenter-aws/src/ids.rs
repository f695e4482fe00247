//! The ids `spec.id` may hold, parsed with errors that say what is wrong
//! and what the id should look like.
//!
//! ```
//! use karpenter_aws::ids::{AsgId, EksNodegroupId, SqsQueueId};
//!
//! let asg = AsgId::parse("arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:\
//!     8e5b2a3c-0000-4000-8000-000000000000:autoScalingGroupName/web").unwrap();
//! assert_eq!((asg.name.as_str(), asg.region.as_deref()), ("web", Some("us-west-2")));
//!
//! let ng = EksNodegroupId::parse("prod/gpu").unwrap();
//! assert_eq!((ng.cluster.as_str(), ng.nodegroup.as_str()), ("prod", "gpu"));
//!
//! let q = SqsQueueId::parse("https://sqs.eu-west-1.amazonaws.com/123456789012/orders").unwrap();
//! assert_eq!((q.name.as_str(), q.account.as_str(), q.region.as_deref()),
//!            ("orders", "123456789012", Some("eu-west-1")));
//!
//! let err = AsgId::parse("arn:aws:eks:us-west-2:123456789012:nodegroup/prod/gpu/1").unwrap_err();
//! assert!(err.to_string().contains("is an eks ARN"), "{err}");
//! ```

use karpenter_core::provider::{ProviderError, ProviderErrorKind};

/// Why an id is not what its type expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// An `arn:` id that does not have the six ARN parts.
    #[error(
        "{id:?} is not a valid ARN: expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, e.g. {example}"
    )]
    NotAnArn {
        /// The rejected id.
        id: String,
        /// What a good id of this type looks like.
        example: &'static str,
    },
    /// An ARN of another AWS service.
    #[error("{id:?} is an {found} ARN, not a {what} ARN; expected e.g. {example}")]
    WrongService {
        /// The rejected id.
        id: String,
        /// The service the ARN names.
        found: String,
        /// What the field holds, e.g. `EC2 Auto Scaling group`.
        what: &'static str,
        /// What a good id looks like.
        example: &'static str,
    },
    /// An ARN of the right service but another kind of resource.
    #[error("{id:?} names a {found:?} resource, not a {what}; expected e.g. {example}")]
    WrongResourceType {
        /// The rejected id.
        id: String,
        /// The resource type the ARN names.
        found: String,
        /// What the field holds.
        what: &'static str,
        /// What a good id looks like.
        example: &'static str,
    },
    /// A part of the id is missing or malformed (name, account, region).
    #[error("{id:?} is not a valid {what} id: {problem}; expected e.g. {example}")]
    Malformed {
        /// The rejected id.
        id: String,
        /// What the field holds.
        what: &'static str,
        /// What is wrong.
        problem: String,
        /// What a good id looks like.
        example: &'static str,
    },
}

impl IdError {
    /// A non-retryable [`ProviderErrorKind::InvalidId`] error about the
    /// field at `path` (e.g. `spec.queue.id`).
    pub fn at(self, path: &str) -> ProviderError {
        ProviderError::new(ProviderErrorKind::InvalidId, format!("{path}: {self}"))
    }
}

impl From<IdError> for ProviderError {
    /// The error about `spec.id` (a ScalableNodeGroup's id).
    fn from(e: IdError) -> Self {
        e.at("spec.id")
    }
}

/// The six parts of an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// `autoscaling`, `eks`, `sqs`, ...
    pub service: &'a str,
    /// e.g. `us-west-2` (may be empty for global services).
    pub region: &'a str,
    /// 12 digits (may be empty for some services).
    pub account: &'a str,
    /// Everything after the account.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `id` into its parts; `example` goes into the error.
    pub fn parse(id: &'a str, example: &'static str) -> Result<Self, IdError> {
        let not_an_arn = || IdError::NotAnArn {
            id: id.to_string(),
            example,
        };
        let mut parts = id.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(not_an_arn());
        };
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(not_an_arn());
        }
        Ok(Self {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// Checks the service, region and account of an ARN for a `what`.
    fn expect(
        &self,
        id: &str,
        service: &str,
        what: &'static str,
        example: &'static str,
    ) -> Result<(), IdError> {
        if self.service != service {
            return Err(IdError::WrongService {
                id: id.to_string(),
                found: self.service.to_string(),
                what,
                example,
            });
        }
        let malformed = |problem: String| IdError::Malformed {
            id: id.to_string(),
            what,
            problem,
            example,
        };
        if !is_region(self.region) {
            return Err(malformed(format!(
                "the region part {:?} is not a region such as us-west-2",
                self.region
            )));
        }
        if !is_account(self.account) {
            return Err(malformed(format!(
                "the account part {:?} is not a 12-digit account id",
                self.account
            )));
        }
        Ok(())
    }
}

/// `us-west-2`, `eu-central-1`, `us-gov-west-1`, `cn-north-1`, ...
pub(crate) fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An EC2 Auto Scaling group: `spec.id` of `AWSEC2AutoScalingGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsgId {
    /// The group's name.
    pub name: String,
    /// The region, when the id is an ARN.
    pub region: Option<String>,
    /// The account, when the id is an ARN.
    pub account: Option<String>,
}

const ASG_EXAMPLE: &str = "web-workers or arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:UUID:autoScalingGroupName/web-workers";
const ASG_WHAT: &str = "EC2 Auto Scaling group";

impl AsgId {
    /// A group name (1 to 255 printable ASCII characters without `:` or
    /// spaces) or an Auto Scaling group ARN.
    pub fn parse(id: &str) -> Result<Self, IdError> {
        let malformed = |problem: String| IdError::Malformed {
            id: id.to_string(),
            what: ASG_WHAT,
            problem,
            example: ASG_EXAMPLE,
        };
        if id.starts_with("arn:") {
            let arn = Arn::parse(id, ASG_EXAMPLE)?;
            arn.expect(id, "autoscaling", ASG_WHAT, ASG_EXAMPLE)?;
            let Some(rest) = arn.resource.strip_prefix("autoScalingGroup:") else {
                let found = arn.resource.split([':', '/']).next().unwrap_or_default();
                return Err(IdError::WrongResourceType {
                    id: id.to_string(),
                    found: found.to_string(),
                    what: ASG_WHAT,
                    example: ASG_EXAMPLE,
                });
            };
            let Some((_uuid, name)) = rest.split_once(":autoScalingGroupName/") else {
                return Err(malformed(
                    "it has no autoScalingGroupName/NAME part".to_string(),
                ));
            };
            check_asg_name(name).map_err(malformed)?;
            return Ok(Self {
                name: name.to_string(),
                region: Some(arn.region.to_string()),
                account: Some(arn.account.to_string()),
            });
        }
        check_asg_name(id).map_err(malformed)?;
        Ok(Self {
            name: id.to_string(),
            region: None,
            account: None,
        })
    }
}

fn check_asg_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the group name is empty".to_string());
    }
    if name.len() > 255 {
        return Err(format!(
            "the group name is {} characters long; at most 255",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic() || *c == ':') {
        return Err(format!(
            "the group name contains {c:?}; names are printable ASCII without ':' or spaces"
        ));
    }
    Ok(())
}

/// An EKS managed node group: `spec.id` of `AWSEKSNodeGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksNodegroupId {
    /// The cluster's name.
    pub cluster: String,
    /// The node group's name.
    pub nodegroup: String,
    /// The region, when the id is an ARN.
    pub region: Option<String>,
    /// The account, when the id is an ARN.
    pub account: Option<String>,
}

const EKS_EXAMPLE: &str =
    "prod/gpu-workers or arn:aws:eks:us-west-2:123456789012:nodegroup/prod/gpu-workers/UUID";
const EKS_WHAT: &str = "EKS managed node group";

impl EksNodegroupId {
    /// `CLUSTER/NODEGROUP` or a node group ARN.
    pub fn parse(id: &str) -> Result<Self, IdError> {
        let malformed = |problem: String| IdError::Malformed {
            id: id.to_string(),
            what: EKS_WHAT,
            problem,
            example: EKS_EXAMPLE,
        };
        let (names, region, account) = if id.starts_with("arn:") {
            let arn = Arn::parse(id, EKS_EXAMPLE)?;
            arn.expect(id, "eks", EKS_WHAT, EKS_EXAMPLE)?;
            let Some(rest) = arn.resource.strip_prefix("nodegroup/") else {
                let found = arn.resource.split('/').next().unwrap_or_default();
                return Err(IdError::WrongResourceType {
                    id: id.to_string(),
                    found: found.to_string(),
                    what: EKS_WHAT,
                    example: EKS_EXAMPLE,
                });
            };
            let mut parts = rest.split('/');
            let names = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(c), Some(n), _, None) => (c, n),
                _ => {
                    return Err(malformed(
                        "the resource part must be nodegroup/CLUSTER/NODEGROUP/UUID".to_string(),
                    ));
                }
            };
            (
                names,
                Some(arn.region.to_string()),
                Some(arn.account.to_string()),
            )
        } else {
            let Some((c, n)) = id.split_once('/') else {
                return Err(malformed(
                    "it is neither CLUSTER/NODEGROUP nor an ARN".to_string(),
                ));
            };
            ((c, n), None, None)
        };
        let (cluster, nodegroup) = names;
        check_eks_name(cluster, "cluster", 100).map_err(malformed)?;
        check_eks_name(nodegroup, "node group", 63).map_err(malformed)?;
        Ok(Self {
            cluster: cluster.to_string(),
            nodegroup: nodegroup.to_string(),
            region,
            account,
        })
    }
}

fn check_eks_name(name: &str, what: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    if name.len() > max {
        return Err(format!(
            "the {what} name {name:?} is {} characters long; at most {max}",
            name.len()
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!(
            "the {what} name {name:?} must start with a letter or digit and hold only letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

/// An SQS queue: `spec.queue.id` of `AWSSQSQueue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsQueueId {
    /// The queue URL, when the id is one (an ARN is resolved to its URL
    /// with `GetQueueUrl`).
    pub url: Option<String>,
    /// The queue's name.
    pub name: String,
    /// The account that owns it.
    pub account: String,
    /// The region, from the ARN or an AWS queue URL's host (a custom
    /// endpoint's URL carries none).
    pub region: Option<String>,
}

const SQS_EXAMPLE: &str = "https://sqs.us-west-2.amazonaws.com/123456789012/orders or arn:aws:sqs:us-west-2:123456789012:orders";
const SQS_WHAT: &str = "SQS queue";

impl SqsQueueId {
    /// A queue URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`) or ARN
    /// (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
    pub fn parse(id: &str) -> Result<Self, IdError> {
        let malformed = |problem: String| IdError::Malformed {
            id: id.to_string(),
            what: SQS_WHAT,
            problem,
            example: SQS_EXAMPLE,
        };
        if id.starts_with("arn:") {
            let arn = Arn::parse(id, SQS_EXAMPLE)?;
            arn.expect(id, "sqs", SQS_WHAT, SQS_EXAMPLE)?;
            check_queue_name(arn.resource).map_err(malformed)?;
            return Ok(Self {
                url: None,
                name: arn.resource.to_string(),
                account: arn.account.to_string(),
                region: Some(arn.region.to_string()),
            });
        }
        let Some(rest) = id
            .strip_prefix("https://")
            .or_else(|| id.strip_prefix("http://"))
        else {
            return Err(malformed(
                "it is neither a queue URL (https://...) nor an ARN (arn:...)".to_string(),
            ));
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(malformed("the URL has no host".to_string()));
        }
        let mut segments = path.trim_end_matches('/').split('/');
        let (Some(account), Some(name), None) = (segments.next(), segments.next(), segments.next())
        else {
            return Err(malformed(
                "the URL's path must be /ACCOUNT/QUEUE_NAME".to_string(),
            ));
        };
        if !is_account(account) {
            return Err(malformed(format!(
                "the URL's account {account:?} is not a 12-digit account id"
            )));
        }
        check_queue_name(name).map_err(malformed)?;
        Ok(Self {
            url: Some(id.trim_end_matches('/').to_string()),
            name: name.to_string(),
            account: account.to_string(),
            region: region_of_sqs_host(host),
        })
    }
}

/// The region an AWS SQS endpoint host names: `sqs.REGION.amazonaws.com`,
/// `sqs.REGION.amazonaws.com.cn`, `REGION.queue.amazonaws.com` or
/// `queue.amazonaws.com` (us-east-1). Other hosts (a local emulator, a VPC
/// endpoint) name none.
fn region_of_sqs_host(host: &str) -> Option<String> {
    let host = host.split(':').next().unwrap_or(host);
    if host == "queue.amazonaws.com" {
        return Some("us-east-1".to_string());
    }
    let candidate = host
        .strip_prefix("sqs.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
                .or_else(|| h.strip_suffix(".api.aws"))
        })
        .or_else(|| host.strip_suffix(".queue.amazonaws.com"))?;
    is_region(candidate).then(|| candidate.to_string())
}

fn check_queue_name(name: &str) -> Result<(), String> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    if base.is_empty() {
        return Err("the queue name is empty".to_string());
    }
    if name.len() > 80 {
        return Err(format!(
            "the queue name is {} characters long; at most 80",
            name.len()
        ));
    }
    if let Some(c) = base
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "the queue name contains {c:?}; names hold letters, digits, '-' and '_' (and end in .fifo for FIFO queues)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asg_ids() {
        let arn = "arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:8e5b2a3c-1111-4222-8333-944445555666:autoScalingGroupName/web";
        assert_eq!(
            AsgId::parse(arn).unwrap(),
            AsgId {
                name: "web".into(),
                region: Some("us-west-2".into()),
                account: Some("123456789012".into())
            }
        );
        assert_eq!(AsgId::parse("eks-gpu-1a2b").unwrap().name, "eks-gpu-1a2b");
        let bad: &[(&str, &str)] = &[
            ("", "the group name is empty"),
            ("web workers", "contains ' '"),
            ("arn:aws:autoscaling", "is not a valid ARN"),
            (
                "arn:aws:sqs:us-west-2:123456789012:orders",
                "is an sqs ARN, not a EC2 Auto Scaling group ARN",
            ),
            (
                "arn:aws:autoscaling:us-west-2:123456789012:launchConfiguration:u:launchConfigurationName/lc",
                "names a \"launchConfiguration\" resource",
            ),
            (
                "arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:uuid",
                "no autoScalingGroupName/NAME part",
            ),
            (
                "arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:uuid:autoScalingGroupName/",
                "the group name is empty",
            ),
            (
                "arn:aws:autoscaling:uswest2:123456789012:autoScalingGroup:u:autoScalingGroupName/a",
                "region part \"uswest2\"",
            ),
            (
                "arn:aws:autoscaling:us-west-2:1234:autoScalingGroup:u:autoScalingGroupName/a",
                "account part \"1234\"",
            ),
        ];
        for (id, want) in bad {
            let err = AsgId::parse(id).unwrap_err().to_string();
            assert!(err.contains(want), "{id}: {err}");
            assert!(
                err.contains("e.g. web-workers or arn:aws:autoscaling:"),
                "{id}: {err}"
            );
        }
    }

    #[test]
    fn eks_ids() {
        let arn = "arn:aws:eks:eu-west-1:123456789012:nodegroup/prod/gpu/9ebd1a6e-0000-4000-8000-000000000000";
        let id = EksNodegroupId::parse(arn).unwrap();
        assert_eq!(
            (
                id.cluster.as_str(),
                id.nodegroup.as_str(),
                id.region.as_deref()
            ),
            ("prod", "gpu", Some("eu-west-1"))
        );
        assert_eq!(EksNodegroupId::parse("prod/gpu").unwrap().region, None);
        let bad: &[(&str, &str)] = &[
            ("prod", "neither CLUSTER/NODEGROUP nor an ARN"),
            ("prod/", "the node group name is empty"),
            ("/gpu", "the cluster name is empty"),
            ("prod/gpu/x", "\"gpu/x\" must start"),
            (
                "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
                "names a \"cluster\" resource",
            ),
            (
                "arn:aws:autoscaling:eu-west-1:123456789012:nodegroup/prod/gpu/u",
                "is an autoscaling ARN",
            ),
            (
                "arn:aws:eks:eu-west-1:123456789012:nodegroup/prod",
                "nodegroup/CLUSTER/NODEGROUP/UUID",
            ),
        ];
        for (id, want) in bad {
            let err = EksNodegroupId::parse(id).unwrap_err().to_string();
            assert!(err.contains(want), "{id}: {err}");
        }
    }

    #[test]
    fn sqs_ids() {
        let table: &[(&str, &str, &str, Option<&str>)] = &[
            (
                "https://sqs.us-east-2.amazonaws.com/123456789012/orders",
                "orders",
                "123456789012",
                Some("us-east-2"),
            ),
            (
                "https://us-west-1.queue.amazonaws.com/123456789012/jobs.fifo",
                "jobs.fifo",
                "123456789012",
                Some("us-west-1"),
            ),
            (
                "https://queue.amazonaws.com/123456789012/a_b",
                "a_b",
                "123456789012",
                Some("us-east-1"),
            ),
            (
                "http://127.0.0.1:5000/123456789012/local",
                "local",
                "123456789012",
                None,
            ),
            (
                "arn:aws:sqs:ap-south-1:210987654321:orders",
                "orders",
                "210987654321",
                Some("ap-south-1"),
            ),
        ];
        for (id, name, account, region) in table {
            let q = SqsQueueId::parse(id).unwrap();
            assert_eq!(
                (q.name.as_str(), q.account.as_str(), q.region.as_deref()),
                (*name, *account, *region),
                "{id}"
            );
            assert_eq!(q.url.is_some(), id.starts_with("http"), "{id}");
        }
        let bad: &[(&str, &str)] = &[
            ("orders", "neither a queue URL"),
            (
                "https://sqs.us-east-2.amazonaws.com/orders",
                "/ACCOUNT/QUEUE_NAME",
            ),
            (
                "https://sqs.us-east-2.amazonaws.com/12345/orders",
                "\"12345\" is not a 12-digit",
            ),
            (
                "https://sqs.us-east-2.amazonaws.com/123456789012/ord ers",
                "contains ' '",
            ),
            ("arn:aws:sqs:us-east-2:123456789012:", "is not a valid ARN"),
            (
                "arn:aws:sns:us-east-2:123456789012:topic",
                "is an sns ARN, not a SQS queue ARN",
            ),
        ];
        for (id, want) in bad {
            let err = SqsQueueId::parse(id).unwrap_err().to_string();
            assert!(err.contains(want), "{id}: {err}");
        }
    }

    #[test]
    fn id_errors_become_invalid_id() {
        let err: ProviderError = AsgId::parse("").unwrap_err().into();
        assert_eq!(err.kind, ProviderErrorKind::InvalidId);
        assert!(!err.is_retryable());
        assert!(err.message.starts_with("spec.id: "), "{}", err.message);
    }
}
