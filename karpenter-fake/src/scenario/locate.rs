//! [`LineIndex`]: where each field of a YAML document is, so that a
//! problem found after parsing (a validation error, a bad reference) can
//! name its line as well as its path.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One node of the document: its position and its children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    line: usize,
    column: usize,
    children: Children,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Children {
    #[default]
    Leaf,
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Children>::deserialize(d)?;
        Ok(Node {
            line: usize::try_from(spanned.referenced.line()).unwrap_or(0),
            column: usize::try_from(spanned.referenced.column()).unwrap_or(0),
            children: spanned.value,
        })
    }
}

/// A mapping key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Children {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Children;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Children, A::Error> {
                let mut out = Vec::new();
                while let Some(Key(k)) = map.next_key::<Key>()? {
                    out.push((k, map.next_value::<Node>()?));
                }
                Ok(Children::Map(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Children, A::Error> {
                let mut out = Vec::new();
                while let Some(n) = seq.next_element::<Node>()? {
                    out.push(n);
                }
                Ok(Children::Seq(out))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_none<E: de::Error>(self) -> Result<Children, E> {
                Ok(Children::Leaf)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Children, D::Error> {
                Children::deserialize(d)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Children, D::Error> {
                Children::deserialize(d)
            }
            fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Children, A::Error> {
                let (_, variant): (IgnoredAny, _) = data.variant()?;
                de::VariantAccess::newtype_variant::<IgnoredAny>(variant)?;
                Ok(Children::Leaf)
            }
        }
        d.deserialize_any(V)
    }
}

/// Where each field of a YAML document is: a field path such as
/// `nodeGroups[1].launchDelay` to its 1-based line and column.
///
/// Built from the document's text once; a path that does not exist in the
/// document (a field a default filled in) resolves to its closest existing
/// parent.
///
/// ```
/// use karpenter_fake::scenario::LineIndex;
///
/// let index = LineIndex::new("a: 1\nb:\n  - {c: 2}\n  - c: 3\n    d: [4, 5]\n");
/// assert_eq!(index.line_of("b[1].d[1]"), Some(5));
/// assert_eq!(index.line_of("b[0].c"), Some(3));
/// assert_eq!(index.line_of("b[1].missing"), Some(4)); // its parent, b[1]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineIndex {
    root: Option<Node>,
    line_offset: usize,
}

impl LineIndex {
    /// The index of a YAML (or JSON) document; empty if it does not parse.
    pub fn new(text: &str) -> Self {
        let root = serde_saphyr::from_str::<Node>(karpenter_core::api::parse::strip_bom(text)).ok();
        Self {
            root,
            line_offset: 0,
        }
    }

    /// The same index with every line shifted by `lines` (a document that
    /// starts further down its file).
    pub fn offset(mut self, lines: usize) -> Self {
        self.line_offset = lines;
        self
    }

    /// The line and column of `path`, or of its closest existing parent.
    pub fn locate(&self, path: &str) -> Option<(usize, usize)> {
        let mut node = self.root.as_ref()?;
        for segment in segments(path) {
            let next = match (&node.children, segment) {
                (Children::Map(entries), Segment::Key(k)) => {
                    entries.iter().find(|(name, _)| name == k).map(|(_, n)| n)
                }
                (Children::Seq(items), Segment::Index(i)) => items.get(i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        (node.line > 0).then_some((node.line + self.line_offset, node.column))
    }

    /// The line of `path`, or of its closest existing parent.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.locate(path).map(|(line, _)| line)
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` → `a`, `b`, `2`, `c`.
fn segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.').filter(|s| !s.is_empty()).flat_map(|part| {
        let mut out = Vec::new();
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        for index in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
        out
    })
}
