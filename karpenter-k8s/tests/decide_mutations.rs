//! Random edits of a valid document (characters inserted, deleted or
//! replaced, lines duplicated or dropped): `decide_document` never panics,
//! and every error names a field or a line without Rust type names.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use karpenter_k8s::decide::decide_document;

const EXAMPLE: &str = include_str!("fixtures/decide-example.yaml");

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
    DuplicateLine(usize),
    DropLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        Just('{'),
        Just('}'),
        Just('['),
        Just(']'),
        Just(':'),
        Just('-'),
        Just(' '),
        Just('\n'),
        Just('&'),
        Just('*'),
        Just('!'),
        Just('"'),
        Just('\''),
        Just('#'),
        Just('\u{0}'),
        Just('\u{feff}'),
        Just('9'),
        Just('x'),
        any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        any::<usize>().prop_map(Edit::DropLine),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.lines().collect();
    match *e {
        Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
        Edit::Delete(i) if !chars.is_empty() => {
            let n = chars.len();
            chars.remove(i % n);
        }
        Edit::Replace(i, c) if !chars.is_empty() => {
            let n = chars.len();
            chars[i % n] = c;
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let i = i % lines.len();
            lines.insert(i, lines[i]);
            return lines.join("\n");
        }
        Edit::DropLine(i) if !lines.is_empty() => {
            let n = lines.len();
            lines.remove(i % n);
            return lines.join("\n");
        }
        _ => {}
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn edited_documents_never_panic_and_errors_name_a_place(
        edits in prop::collection::vec(edit(), 1..4),
        json in any::<bool>(),
    ) {
        let base = if json {
            let v: serde_json::Value = karpenter_core::api::from_yaml_str(EXAMPLE).unwrap();
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            EXAMPLE.to_string()
        };
        let text = edits.iter().fold(base, |t, e| apply(&t, e));
        if let Err(e) = decide_document(&text) {
            let msg = e.to_string();
            for leak in ["i32", "u128", "unit value", ".?", "struct ", "untagged enum"] {
                prop_assert!(!msg.contains(leak), "{leak:?} in {msg}\n--- input:\n{text}");
            }
            // A field path, a line, or a validation problem's path.
            prop_assert!(
                msg.contains("(line ") || msg.contains(": ") ,
                "no place in {msg}"
            );
        }
    }
}
