//! Kubernetes runtime.
