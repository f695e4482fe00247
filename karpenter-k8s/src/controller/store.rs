//! The controllers' copies of the three custom resources, fed by their
//! watches, and which objects are due for a reconcile.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_core::reconcile::ObjectKey;
use kube::Resource;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tokio::sync::Notify;

/// An object of kind `K` as its watch delivers it: the metadata, and the
/// typed object or why it does not deserialize. A bad object (say, a
/// schedule pattern the schema cannot check) is one error, never a broken
/// list or watch.
#[derive(Debug, Clone)]
pub struct Lenient<K> {
    metadata: ObjectMeta,
    /// The object, or the path and message of what is wrong with it.
    pub object: Result<K, String>,
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Lenient<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let metadata = value
            .get("metadata")
            .and_then(|m| ObjectMeta::deserialize(m).ok())
            .unwrap_or_default();
        let object = serde_path_to_error::deserialize::<_, K>(value).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        });
        Ok(Self { metadata, object })
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Lenient<K> {
    type DynamicType = ();
    type Scope = K::Scope;
    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// What a watch event did to a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An object is new or its spec changed: reconcile it now.
    Spec(ObjectKey),
    /// Only its status or metadata changed (often our own status patch).
    Other(ObjectKey),
    /// It was deleted.
    Deleted(ObjectKey),
    /// It does not deserialize: why.
    Invalid(ObjectKey, String),
}

/// The objects of one kind, in watch order, and the keys due for a
/// reconcile.
pub struct Store<K> {
    objects: Mutex<IndexMap<ObjectKey, Arc<K>>>,
    dirty: Mutex<HashSet<ObjectKey>>,
    relist: Mutex<Option<HashSet<ObjectKey>>>,
    wake: Notify,
    synced: AtomicBool,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Self {
            objects: Mutex::new(IndexMap::new()),
            dirty: Mutex::new(HashSet::new()),
            relist: Mutex::new(None),
            wake: Notify::new(),
            synced: AtomicBool::new(false),
        }
    }
}

impl<K> std::fmt::Debug for Store<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("objects", &lock(&self.objects).len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The part of an object whose change calls for a reconcile.
pub trait HasSpecOf {
    /// The spec type.
    type Spec: PartialEq;
    /// The spec.
    fn spec_of(&self) -> &Self::Spec;
}

macro_rules! spec_of {
    ($($ty:ty),*) => {$(
        impl HasSpecOf for $ty {
            type Spec = <$ty as kube::core::object::HasSpec>::Spec;
            fn spec_of(&self) -> &Self::Spec {
                &self.spec
            }
        }
    )*};
}
spec_of!(
    crate::crd::ScalableNodeGroup,
    crate::crd::HorizontalAutoscaler,
    crate::crd::MetricsProducer
);

impl<K: Resource + HasSpecOf> Store<K> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The object `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        lock(&self.objects).get(key).cloned()
    }

    /// Every object, in watch order.
    pub fn all(&self) -> Vec<Arc<K>> {
        lock(&self.objects).values().cloned().collect()
    }

    /// Every key.
    pub fn keys(&self) -> Vec<ObjectKey> {
        lock(&self.objects).keys().cloned().collect()
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        lock(&self.objects).len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the watch has listed once.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Stores `object` (as a watch event would) and says what changed.
    pub fn apply(&self, object: K) -> Change {
        let key = key_of(object.meta());
        let mut objects = lock(&self.objects);
        let spec_changed = objects
            .get(&key)
            .is_none_or(|old| old.spec_of() != object.spec_of());
        objects.insert(key.clone(), Arc::new(object));
        drop(objects);
        if spec_changed {
            self.mark(key.clone());
            Change::Spec(key)
        } else {
            Change::Other(key)
        }
    }

    /// Removes `key`.
    pub fn delete(&self, key: &ObjectKey) -> Change {
        lock(&self.objects).shift_remove(key);
        lock(&self.dirty).remove(key);
        Change::Deleted(key.clone())
    }

    /// Marks `key` due for a reconcile and wakes the loop.
    pub fn mark(&self, key: ObjectKey) {
        lock(&self.dirty).insert(key);
        self.wake.notify_one();
    }

    /// Marks every object due.
    pub fn mark_all(&self) {
        let keys = self.keys();
        lock(&self.dirty).extend(keys);
        self.wake.notify_one();
    }

    /// The keys due, emptied.
    pub fn take_dirty(&self) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = lock(&self.dirty).drain().collect();
        keys.sort();
        keys
    }

    /// Waits until something is marked.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Applies one watch event; returns what changed.
    pub fn event(&self, event: watcher::Event<Lenient<K>>) -> Vec<Change> {
        match event {
            watcher::Event::Init => {
                *lock(&self.relist) = Some(HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                let key = key_of(&o.metadata);
                if let Some(seen) = lock(&self.relist).as_mut() {
                    seen.insert(key.clone());
                }
                match o.object {
                    Ok(object) => vec![self.apply(object)],
                    Err(e) => {
                        self.delete(&key);
                        vec![Change::Invalid(key, e)]
                    }
                }
            }
            watcher::Event::Delete(o) => vec![self.delete(&key_of(&o.metadata))],
            watcher::Event::InitDone => {
                let seen = lock(&self.relist).take();
                let mut changes = Vec::new();
                if let Some(seen) = seen {
                    for key in self.keys() {
                        if !seen.contains(&key) {
                            changes.push(self.delete(&key));
                        }
                    }
                }
                self.synced.store(true, Ordering::Release);
                changes
            }
        }
    }
}

/// The key of the object with Kubernetes metadata `meta` (namespace
/// `default` when it has none), as core's [`ObjectKey::of`] does for core
/// metadata.
pub fn key_of(meta: &ObjectMeta) -> ObjectKey {
    ObjectKey::new(
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or(""),
    )
}

/// Last-known values per object, e.g. the statuses the controller wrote.
pub(crate) type PerObject<T> = Mutex<HashMap<ObjectKey, T>>;
