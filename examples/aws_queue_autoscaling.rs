//! Alice's queue scenario, shortened, in real time, against the AWS APIs of
//! a local emulator: an SQS queue and an EC2 Auto Scaling group hosted by
//! `moto_server`, scaled by the real AWS providers.
//!
//! ```text
//! pip install 'moto[server]'      # provides moto_server
//! cargo run -p karpenter-examples --features aws --example aws_queue_autoscaling
//! ```
//!
//! The example starts `moto_server` on 127.0.0.1 (a free port) and stops it
//! when it ends. It never talks to AWS itself: its SDK configuration is
//! built explicitly, with test credentials and the emulator's endpoint.
//!
//! 40 tasks land in the queue; Alice wants one node per 4 waiting messages,
//! 0 to 20 nodes. Every 5 s the controller loop ticks (the MetricsProducer
//! reads the SQS queue, the HorizontalAutoscaler decides, the Auto Scaling
//! group's desired capacity is set), and simulated consumers each take one
//! message off the queue per InService instance. moto launches instances at
//! once, so nodes are ready as soon as the group grows. The queue drains,
//! and after the 30 s scale-down stabilization window the group goes back
//! to zero. It takes about two minutes.
//!
//! The queue length reaches the autoscaler through an in-process metric
//! store standing in for Prometheus (karpenter-fake's `FakeMetricStore`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, LifecycleState};
use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use karpenter_aws::AwsProvider;
use karpenter_core::api::parse;
use karpenter_core::provider::ProviderRegistry;
use karpenter_core::runner::Runner;
use karpenter_fake::{FakeMetricStore, FakeProvider};

const TASKS: usize = 40;
const TICK: Duration = Duration::from_secs(5);
const LIMIT: Duration = Duration::from_secs(4 * 60);
const GROUP: &str = "ml-training";
const QUEUE: &str = "ml-training-queue";

/// A `moto_server` child process, killed when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_moto() -> Result<(Moto, String), Box<dyn std::error::Error>> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "could not start moto_server ({e}); install it with: pip install 'moto[server]'"
            )
        })?;
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err("moto_server did not start listening within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((moto, format!("http://127.0.0.1:{port}")))
}

/// Test credentials and the emulator's endpoint: nothing here reads the
/// environment or `~/.aws`, so the example cannot reach a real account.
fn emulator_config(endpoint: &str) -> SdkConfig {
    karpenter_aws::install_crypto_provider();
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "example",
        )))
        .http_client(karpenter_aws::http_client())
        .retry_config(RetryConfig::disabled())
        .build()
}

fn manifests(queue_url: &str) -> [String; 3] {
    [
        format!(
            "apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata: {{name: {GROUP}, namespace: default}}
spec: {{type: AWSEC2AutoScalingGroup, id: {GROUP}}}
"
        ),
        format!(
            "apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata: {{name: {QUEUE}, namespace: default}}
spec:
  queue: {{type: AWSSQSQueue, id: \"{queue_url}\"}}
"
        ),
        format!(
            "apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata: {{name: {GROUP}, namespace: default}}
spec:
  scaleTargetRef: {{apiVersion: autoscaling.karpenter.sh/v1alpha1, kind: ScalableNodeGroup, name: {GROUP}}}
  minReplicas: 0
  maxReplicas: 20
  metrics:
  - prometheus:
      query: karpenter_queue_length{{name=\"{QUEUE}\"}}
      target: {{type: AverageValue, value: 4}}
  behavior:
    scaleUp:
      policies: [{{type: Count, value: 20, periodSeconds: 15}}]
    scaleDown:
      stabilizationWindowSeconds: 30
"
        ),
    ]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_moto, endpoint) = start_moto().await?;
    let sdk = emulator_config(&endpoint);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);

    // What Alice set up in her account: a launch template, an empty group,
    // a queue.
    let images = ec2.describe_images().owners("amazon").send().await?;
    let image = images
        .images()
        .first()
        .and_then(|i| i.image_id())
        .ok_or("the emulator lists no image")?;
    ec2.create_launch_template()
        .launch_template_name("ml-nodes")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(image)
                .instance_type(InstanceType::G4dnXlarge)
                .build(),
        )
        .send()
        .await?;
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name("ml-nodes")
                .build(),
        )
        .min_size(0)
        .max_size(20)
        .desired_capacity(0)
        .availability_zones("us-east-1a")
        .send()
        .await?;
    let queue_url = sqs
        .create_queue()
        .queue_name(QUEUE)
        .send()
        .await?
        .queue_url()
        .ok_or("the emulator answered no queue URL")?
        .to_string();

    let store = FakeMetricStore::new();
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(AwsProvider::new(sdk.clone())))?;
    registry.register(Arc::new(FakeProvider::new(store.clone())))?;
    let mut runner = Runner::new(registry, Arc::new(store));
    let [group, producer, autoscaler] = manifests(&queue_url);
    runner.add_node_group(parse::from_str(&group)?)?;
    runner.add_producer(parse::from_str(&producer)?)?;
    runner.add_autoscaler(parse::from_str(&autoscaler)?)?;

    println!("moto_server at {endpoint}; queue {queue_url}; group {GROUP} (0..20, g4dn.xlarge)");
    println!(
        "{:>6}  {:>7}  {:>7}  {:>5}  event",
        "time", "queued", "desired", "ready"
    );
    let start = Instant::now();
    let mut burst_sent = false;
    let mut peak = 0;
    loop {
        let elapsed = start.elapsed();
        let mut event = String::new();
        if !burst_sent && elapsed >= Duration::from_secs(10) {
            for chunk in (0..TASKS).collect::<Vec<_>>().chunks(10) {
                let entries = chunk
                    .iter()
                    .map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(format!("t{i}"))
                            .message_body(format!("training task {i}"))
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                sqs.send_message_batch()
                    .queue_url(&queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await?;
            }
            burst_sent = true;
            event = format!("{TASKS} tasks land in the queue");
        }

        let report = runner.tick(chrono::Utc::now()).await;
        for e in &report.errors {
            event.push_str(&format!(" error: {e}"));
        }
        for r in &report.rescales {
            event.push_str(&format!(" scaled {} -> {}", r.from, r.to));
        }

        // Consumers: one message per InService instance per tick.
        let groups = autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(GROUP)
            .send()
            .await?;
        let g = groups
            .auto_scaling_groups()
            .first()
            .ok_or("the group is gone")?;
        let ready = g
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
            .count();
        peak = peak.max(ready);
        let mut left = ready;
        while left > 0 {
            let got = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(i32::try_from(left.min(10)).unwrap_or(10))
                .send()
                .await?;
            if got.messages().is_empty() {
                break;
            }
            for m in got.messages() {
                if let Some(handle) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
                left -= 1;
            }
        }
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await?;
        let queued = attrs
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .cloned()
            .unwrap_or_default();
        let desired = g.desired_capacity().unwrap_or_default();
        println!(
            "{:>5}s  {queued:>7}  {desired:>7}  {ready:>5}  {}",
            elapsed.as_secs(),
            event.trim()
        );

        if burst_sent && queued == "0" && desired == 0 && peak > 0 {
            println!(
                "Done in {}s: up to {peak} nodes for {TASKS} tasks (one per 4), then back to zero.",
                start.elapsed().as_secs()
            );
            return Ok(());
        }
        if elapsed > LIMIT {
            return Err(format!(
                "the scenario did not finish within {}s (queued {queued}, desired {desired})",
                LIMIT.as_secs()
            )
            .into());
        }
        tokio::time::sleep(TICK).await;
    }
}
