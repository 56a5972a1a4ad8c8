//! The tuning samplers' numeric kernels: `tpe_choose` (the Parzen estimators behind
//! `aidot.tuning.TPESampler`) and `gp_maximize` (the local search of `GPSampler`).

use aidot_core::gp::{maximize, Acquisition, Posterior, SearchOptions};
use aidot_core::tpe::{choose, Param};
use aidot_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

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

/// A fitted GP as Python hands it over: `alpha`, `C^-1` and the inverse squared length scales
/// (float64 bytes), and the kernel scale.
type ModelArg<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    f64,
);

/// A model's arrays, read before the GIL is released.
type ModelData = (Vec<f64>, Vec<f64>, Vec<f64>, f64);

fn model_data(model: &ModelArg<'_>) -> Result<ModelData, Error> {
    Ok((
        floats("alpha", model.0.as_bytes())?,
        floats("inverse", model.1.as_bytes())?,
        floats("lam", model.2.as_bytes())?,
        model.3,
    ))
}

/// Maximizes the GP sampler's acquisition from each of `starts` (row-major float64 bytes) by
/// box-constrained BFGS over the `free` coordinates; the others (categories) stay. `x` holds
/// the trials' inputs (float64 bytes, one row per trial, one value per flag in
/// `categorical`); `objective` is the objective's GP and the best value to improve on, or None
/// before any trial is feasible; `constraints` one GP per constraint; `scales` the length
/// scales of the free coordinates. Returns the points (row-major) and their values.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gp_maximize(
    py: Python<'_>,
    x: &[u8],
    categorical: Vec<bool>,
    objective: Option<(ModelArg<'_>, f64)>,
    constraints: Vec<ModelArg<'_>>,
    starts: &[u8],
    free: Vec<bool>,
    scales: Vec<f64>,
) -> PyResult<(Vec<f64>, Vec<f64>)> {
    let read = || -> Result<_, Error> {
        let objective = match &objective {
            Some((model, best)) => Some((model_data(model)?, *best)),
            None => None,
        };
        let constraints = constraints
            .iter()
            .map(model_data)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            floats("x", x)?,
            floats("starts", starts)?,
            objective,
            constraints,
        ))
    };
    let (x, starts, objective, constraints) = read().map_err(crate::errors::to_pyerr)?;
    detach(py, move || {
        let posterior = |(alpha, inverse, lam, scale): ModelData| {
            Posterior::new(x.clone(), alpha, inverse, lam, categorical.clone(), scale)
        };
        let objective = match objective {
            Some((model, best)) => Some((posterior(model)?, best)),
            None => None,
        };
        let constraints = constraints
            .into_iter()
            .map(posterior)
            .collect::<aidot_core::Result<Vec<_>>>()?;
        let acquisition = Acquisition::new(objective, constraints)?;
        let dims = acquisition.dims();
        if starts.len() % dims != 0 {
            return Err(Error::InvalidArgument(format!(
                "{} start values do not make rows of {dims}",
                starts.len()
            )));
        }
        let (mut points, mut values) = (Vec::with_capacity(starts.len()), Vec::new());
        for start in starts.chunks_exact(dims) {
            let (point, value) = maximize(
                &acquisition,
                start,
                &free,
                &scales,
                SearchOptions::default(),
            )?;
            points.extend(point);
            values.push(value);
        }
        Ok((points, values))
    })
}
