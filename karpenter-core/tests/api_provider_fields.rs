//! The fields providers read: `spec.queue.includeInFlight` of a
//! MetricsProducer and `noDataValue` of a `cloudWatch` metric. Both parse
//! strictly (a misspelling names the field it meant), default to off, and
//! survive a round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use karpenter_core::api::parse::{self, ParseErrorKind};
use karpenter_core::api::v1alpha1::{HorizontalAutoscaler, MetricsProducer, QueueSpec};
use karpenter_core::provider::{CloudProvider, ProviderRegistry, ProviderResult, Queue};

const MP: &str = "\
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata: {name: orders}
spec:
  queue:
    type: AWSSQSQueue
    id: https://sqs.us-west-2.amazonaws.com/123456789012/orders
";

const HA: &str = "\
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: ScalableNodeGroup, name: web}
  maxReplicas: 10
  metrics:
    - cloudWatch:
        namespace: AWS/SQS
        metricName: ApproximateNumberOfMessagesVisible
        dimensions: {QueueName: orders}
        target: {type: AverageValue, value: 4}
";

#[test]
fn include_in_flight_defaults_off_and_parses_strictly() {
    let mp: MetricsProducer = parse::from_str(MP).unwrap();
    assert!(!mp.spec.queue.as_ref().unwrap().include_in_flight);
    assert!(
        !serde_json::to_string(&mp)
            .unwrap()
            .contains("includeInFlight")
    );

    let on = MP.replace("    id: https", "    includeInFlight: true\n    id: https");
    let mp: MetricsProducer = parse::from_str(&on).unwrap();
    assert!(mp.spec.queue.as_ref().unwrap().include_in_flight);
    assert!(mp.validate().is_ok());
    let json = serde_json::to_string(&mp).unwrap();
    assert!(json.contains("\"includeInFlight\":true"), "{json}");

    let typo = MP.replace("    id: https", "    includeInflight: true\n    id: https");
    let err = parse::from_str::<MetricsProducer>(&typo).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::UnknownField, "{err}");
    assert_eq!(err.path, "spec.queue.includeInflight");
    assert_eq!(err.suggestion.as_deref(), Some("includeInFlight"));

    let not_bool = MP.replace(
        "    id: https",
        "    includeInFlight: sometimes\n    id: https",
    );
    assert!(parse::from_str::<MetricsProducer>(&not_bool).is_err());
}

#[test]
fn no_data_value_is_a_quantity() {
    let ha: HorizontalAutoscaler = parse::from_str(HA).unwrap();
    assert_eq!(
        ha.spec.metrics[0]
            .cloud_watch
            .as_ref()
            .unwrap()
            .no_data_value,
        None
    );

    for (text, want) in [("0", 0.0), ("500m", 0.5), ("-2", -2.0), ("1.5k", 1500.0)] {
        let with = HA.replace(
            "        target:",
            &format!("        noDataValue: {text}\n        target:"),
        );
        let ha: HorizontalAutoscaler = parse::from_str(&with).unwrap();
        let v = ha.spec.metrics[0]
            .cloud_watch
            .as_ref()
            .unwrap()
            .no_data_value
            .as_ref()
            .unwrap();
        assert_eq!(v.as_f64(), want, "{text}");
        assert!(ha.validate().is_ok());
    }

    let typo = HA.replace("        target:", "        noDataValu: 0\n        target:");
    let err = parse::from_str::<HorizontalAutoscaler>(&typo).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::UnknownField, "{err}");
    assert_eq!(err.path, "spec.metrics[0].cloudWatch.noDataValu");
    assert_eq!(err.suggestion.as_deref(), Some("noDataValue"));

    let bad = HA.replace(
        "        target:",
        "        noDataValue: lots\n        target:",
    );
    assert!(parse::from_str::<HorizontalAutoscaler>(&bad).is_err());
}

/// Counts in flight or not, as its spec says.
struct Counting(bool);

#[karpenter_core::async_trait]
impl Queue for Counting {
    async fn length(&self) -> ProviderResult<u64> {
        Ok(if self.0 { 5 } else { 3 })
    }
    async fn oldest_message_age(&self) -> ProviderResult<Option<std::time::Duration>> {
        Ok(None)
    }
}

struct Provider;

impl CloudProvider for Provider {
    fn name(&self) -> String {
        "counting".into()
    }
    fn queue_types(&self) -> Vec<String> {
        vec!["Counting".into()]
    }
    fn queue(&self, spec: &QueueSpec) -> ProviderResult<Arc<dyn Queue>> {
        Ok(Arc::new(Counting(spec.include_in_flight)))
    }
}

#[tokio::test]
async fn the_registry_keeps_one_handle_per_way_of_counting() {
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(Provider)).unwrap();
    let spec = |include_in_flight| QueueSpec {
        type_: "Counting".into(),
        id: "orders".into(),
        include_in_flight,
    };
    let waiting = registry.queue(&spec(false)).unwrap();
    let all = registry.queue(&spec(true)).unwrap();
    assert_eq!(waiting.length().await.unwrap(), 3);
    assert_eq!(all.length().await.unwrap(), 5);
    assert!(Arc::ptr_eq(&all, &registry.queue(&spec(true)).unwrap()));
    registry.forget_queue(&spec(true));
    assert!(!Arc::ptr_eq(&all, &registry.queue(&spec(true)).unwrap()));
    assert!(Arc::ptr_eq(
        &waiting,
        &registry.queue(&spec(false)).unwrap()
    ));
}
