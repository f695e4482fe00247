//! `karpenter pending`'s readers and report on damaged input: the fixture
//! cut anywhere, bytes changed anywhere, any quantity text. Each gives a
//! report or an error, never a panic.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use karpenter_k8s::pending::PendingReport;
use karpenter_k8s::pending::manifests::PendingInputs;
use karpenter_k8s::pending::snapshot::read_list;

const SNAPSHOT: &str = include_str!("fixtures/pending-snapshot.json");
const GROUPS: &str = include_str!("fixtures/pending-groups.yaml");

fn inputs() -> PendingInputs {
    let mut i = PendingInputs::default();
    i.read("groups.yaml", GROUPS).unwrap();
    i
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_cut_or_damaged_snapshot_never_panics(cut in 0usize..SNAPSHOT.len(), at in 0usize..SNAPSHOT.len(), byte in any::<u8>()) {
        let mut bytes = SNAPSHOT.as_bytes()[..cut].to_vec();
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        if let Ok(list) = read_list(bytes.as_slice()) {
            let _ = PendingReport::build(&list, &inputs());
        }
    }

    #[test]
    fn any_quantity_text_never_panics(cpu in ".{0,12}", memory in "[0-9.eEkKMGTPi+-]{0,24}") {
        let text = SNAPSHOT
            .replacen("\"cpu\": \"1\"", &format!("\"cpu\": {}", serde_json::to_string(&cpu).unwrap()), 1)
            .replacen("\"memory\": \"2Gi\"", &format!("\"memory\": {}", serde_json::to_string(&memory).unwrap()), 1);
        if let Ok(list) = read_list(text.as_bytes()) {
            let report = PendingReport::build(&list, &inputs()).unwrap();
            let _ = report.to_text();
        }
    }

    #[test]
    fn damaged_manifests_never_panic(cut in 0usize..GROUPS.len(), at in 0usize..GROUPS.len(), c in any::<char>()) {
        let mut text: String = GROUPS.chars().take(cut).collect();
        if at < text.len() && text.is_char_boundary(at) && text.is_char_boundary(at + 1) {
            text.replace_range(at..at + 1, &c.to_string());
        }
        let mut i = PendingInputs::default();
        let _ = i.read("groups.yaml", &text);
    }
}
