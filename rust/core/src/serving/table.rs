//! The models being served, by name, with hot swap.
//!
//! Loading a model under a name in use replaces it atomically: requests that already hold the
//! old model finish on it (its batcher closes and drains), new requests get the new one. A
//! request that races the swap sees `SubmitError::Closed` from the old batcher and looks the
//! name up again, so no request fails because of a swap. Metrics belong to the name, not the
//! version, so they carry over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use super::batcher::Batcher;
use super::metrics::PerformanceMetrics;
use super::tensor::TensorSpec;

/// What a served model is: name, version, where it came from and its tensors.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub name: String,
    /// The registry version ("3"), or "1" for a model served from an object.
    pub version: String,
    /// The model format ("sklearn", "onnx", "numpy"...), reported as the V2 `platform`.
    pub platform: String,
    /// Where it was loaded from (`models:/churn/3`), if from the registry.
    pub source: Option<String>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// Unix time in milliseconds.
    pub loaded_at_ms: u64,
}

/// A model ready to serve: its description and its batcher.
pub struct LoadedModel {
    pub info: ModelInfo,
    pub batcher: Batcher,
}

impl LoadedModel {
    /// The model's (single) input.
    pub fn input(&self) -> Option<&TensorSpec> {
        self.info.inputs.first()
    }
}

/// Served models by name.
#[derive(Default)]
pub struct ModelTable {
    models: RwLock<HashMap<String, Arc<LoadedModel>>>,
    metrics: Mutex<HashMap<String, Arc<PerformanceMetrics>>>,
}

impl ModelTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// The metrics of `name`, created on first use and kept across versions.
    pub fn metrics_for(&self, name: &str) -> Arc<PerformanceMetrics> {
        let mut metrics = self
            .metrics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(metrics.entry(name.to_owned()).or_default())
    }

    /// Serves `model` under its name, replacing (and closing) the model served before, which is
    /// returned.
    pub fn insert(&self, model: LoadedModel) -> Option<Arc<LoadedModel>> {
        let name = model.info.name.clone();
        let previous = self
            .models
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name, Arc::new(model));
        if let Some(previous) = &previous {
            previous.batcher.close();
        }
        previous
    }

    /// The model served under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedModel>> {
        self.models
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Stops serving `name`: its queued requests finish, new ones get "not found".
    pub fn remove(&self, name: &str) -> Option<Arc<LoadedModel>> {
        let removed = self
            .models
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
        if let Some(removed) = &removed {
            removed.batcher.close();
            self.metrics
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(name);
        }
        removed
    }

    /// Every served model, by name.
    pub fn list(&self) -> Vec<Arc<LoadedModel>> {
        let mut models: Vec<_> = self
            .models
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        models.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        models
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::batcher::{BatcherConfig, Predictor, RowRequest, SubmitError};
    use crate::serving::tensor::{DataType, Tensor};

    struct Constant(f32);

    impl Predictor for Constant {
        fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
            let rows = batch.shape[0];
            Ok(Tensor {
                dtype: DataType::Fp32,
                shape: vec![rows, 1],
                data: self.0.to_le_bytes().repeat(rows),
            })
        }
    }

    fn model(table: &ModelTable, name: &str, value: f32, version: &str) -> LoadedModel {
        let batcher = Batcher::start(
            name,
            Arc::new(Constant(value)),
            DataType::Fp32,
            BatcherConfig::default(),
            table.metrics_for(name),
        )
        .unwrap();
        let spec = |name: &str| TensorSpec {
            name: name.into(),
            dtype: DataType::Fp32,
            shape: vec![-1, 1],
        };
        LoadedModel {
            info: ModelInfo {
                name: name.into(),
                version: version.into(),
                platform: "test".into(),
                source: None,
                inputs: vec![spec("input")],
                outputs: vec![spec("output")],
                loaded_at_ms: 0,
            },
            batcher,
        }
    }

    fn ask(model: &LoadedModel) -> Result<f32, SubmitError> {
        let ticket = model.batcher.submit(RowRequest {
            data: 1f32.to_le_bytes().to_vec(),
            shape: crate::serving::RowShape::from_slice(&[1]),
            priority: crate::serving::Priority::default(),
            timeout: None,
        })?;
        let output = ticket.wait().unwrap();
        Ok(f32::from_le_bytes(output.bytes().try_into().unwrap()))
    }

    #[test]
    fn a_swap_closes_the_old_version_and_keeps_the_metrics() {
        let table = ModelTable::new();
        assert!(table.insert(model(&table, "m", 1.0, "1")).is_none());
        let old = table.get("m").unwrap();
        assert_eq!(ask(&old), Ok(1.0));
        old.batcher
            .metrics()
            .record_request(std::time::Duration::from_micros(5), 1);

        let replaced = table.insert(model(&table, "m", 2.0, "2")).unwrap();
        assert_eq!(replaced.info.version, "1");
        assert_eq!(ask(&old), Err(SubmitError::Closed));
        let new = table.get("m").unwrap();
        assert_eq!(ask(&new), Ok(2.0));
        assert_eq!(new.batcher.metrics().snapshot(0).requests_total, 1);

        assert_eq!(table.list().len(), 1);
        table.remove("m").unwrap();
        assert!(table.get("m").is_none());
        assert_eq!(table.metrics_for("m").snapshot(0).requests_total, 0);
    }
}
