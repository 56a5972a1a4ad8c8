//! `aidot._core.tpe_choose`: the Parzen estimators behind `aidot.tuning.TPESampler`.

use aidot_core::tpe::{choose, Param};
use aidot_core::Error;
use pyo3::prelude::*;

use crate::gil::detach;

/// A parameter as Python describes it: the number of choices of a categorical one, or
/// `(low, high, step or None, log)` of a numeric one.
#[derive(FromPyObject)]
pub(crate) enum ParamArg {
    Categorical(usize),
    Numeric(f64, f64, Option<f64>, bool),
}

impl From<&ParamArg> for Param {
    fn from(arg: &ParamArg) -> Self {
        match *arg {
            ParamArg::Categorical(choices) => Param::Categorical { choices },
            ParamArg::Numeric(low, high, step, log) => Param::Numeric {
                low,
                high,
                step,
                log,
            },
        }
    }
}

/// Native-endian float64 values from the bytes of a C-contiguous NumPy array (copied: a
/// `bytes` object's data carries no alignment promise).
fn floats(name: &str, data: &[u8]) -> Result<Vec<f64>, Error> {
    if data.len() % 8 != 0 {
        return Err(Error::InvalidArgument(format!(
            "{name} holds {} bytes, not a whole number of float64 values",
            data.len()
        )));
    }
    Ok(data
        .chunks_exact(8)
        .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

/// One TPE step: fits a Parzen estimator to `below` (the good trials' internal values,
/// row-major float64 bytes) and one to `above`, draws `candidates` points from the good one
/// (seeded by `seed`) and returns the point where good is most likely relative to rest.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn tpe_choose(
    py: Python<'_>,
    below: &[u8],
    below_weights: &[u8],
    above: &[u8],
    above_weights: &[u8],
    params: Vec<ParamArg>,
    prior_weight: f64,
    candidates: usize,
    seed: u64,
) -> PyResult<Vec<f64>> {
    let params: Vec<Param> = params.iter().map(Param::from).collect();
    detach(py, || {
        choose(
            &floats("below", below)?,
            &floats("below_weights", below_weights)?,
            &floats("above", above)?,
            &floats("above_weights", above_weights)?,
            &params,
            prior_weight,
            candidates,
            seed,
        )
    })
}
