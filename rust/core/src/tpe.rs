//! The numeric heart of the Tree-structured Parzen Estimator (TPE) sampler.
//!
//! TPE splits finished trials into good ("below") and the rest ("above"), fits a Parzen
//! estimator to each, draws candidates from the good one and keeps the candidate where good is
//! most likely relative to rest. Python does the split and the bookkeeping; this module fits
//! the two mixtures, draws and scores the candidates in one call ([`choose`]), which at a
//! thousand trials costs a small fraction of the NumPy version's dozens of array operations.
//!
//! Each observation is one mixture component: a product of one kernel per parameter. Numeric
//! parameters get a normal truncated to the range (on the log scale for log parameters,
//! integrated over each value's cell for stepped and integer ones); a categorical one gets a
//! distribution over the choices that leans towards the observed choice. A broad prior
//! component keeps unexplored regions reachable. Values are the samplers' internal
//! representation: a number for numeric parameters, the choice's index for categorical ones.

use rand_pcg::rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use statrs::function::erf::{erfc, erfc_inv};

use crate::{Error, Result};

/// Floor of an interval's probability mass, so its logarithm stays finite.
const MIN_MASS: f64 = 1e-300;
/// Floor of a log parameter's lower cell edge, so its logarithm stays finite.
const MIN_POSITIVE: f64 = 1e-12;

/// One parameter of the search space, as the distribution defines it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param {
    /// A choice among `choices` options, observed as the index 0..choices.
    Categorical { choices: usize },
    /// A number in `[low, high]`; with `step`, only `low + i * step`; with `log`, modelled on
    /// the log scale (`low` must then be positive).
    Numeric {
        low: f64,
        high: f64,
        step: Option<f64>,
        log: bool,
    },
}

impl Param {
    fn check(&self) -> Result<()> {
        match *self {
            Param::Categorical { choices: 0 } => Err(Error::InvalidArgument(
                "a categorical parameter needs at least one choice".into(),
            )),
            Param::Numeric { low, high, .. } if !(low.is_finite() && high.is_finite()) => Err(
                Error::InvalidArgument(format!("bounds must be finite, got [{low}, {high}]")),
            ),
            Param::Numeric { low, high, .. } if low > high => Err(Error::InvalidArgument(format!(
                "low {low} is above high {high}; swap them"
            ))),
            Param::Numeric {
                step: Some(step), ..
            } if !(step.is_finite() && step > 0.0) => Err(Error::InvalidArgument(format!(
                "step must be a positive number, got {step}"
            ))),
            Param::Numeric { low, log: true, .. } if low <= 0.0 => Err(Error::InvalidArgument(
                format!("a log scale needs a positive low bound, got {low}"),
            )),
            _ => Ok(()),
        }
    }
}

/// The standard normal's cumulative distribution function.
fn ndtr(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal's quantile function, the inverse of [`ndtr`].
fn ndtri(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

/// Beyond this many standard deviations Phi is 0 or 1 to double precision (Phi(-8.5) is
/// 1e-17, below half an ulp of 1).
const TAIL: f64 = 8.5;

/// `ln(Phi(b) - Phi(a))` for `a = (lo - mu) / sigma`, `b = (hi - mu) / sigma`. Both ends are
/// taken on the lower side of the normal (mirrored when the interval lies above the mean),
/// where Phi keeps its relative precision far into the tail. A kernel well inside the interval
/// (most are) skips the error function: its mass is 1 to double precision.
fn log_mass(lo: f64, hi: f64, mu: f64, sigma: f64) -> f64 {
    let a = (lo - mu) / sigma;
    let b = (hi - mu) / sigma;
    if a < -TAIL && b > TAIL {
        return 0.0; // the whole normal
    }
    let (a, b) = if a > 0.0 { (-b, -a) } else { (a, b) };
    // A kernel cut on one side only (near an end of the range): Phi(a) is below 1e-17 and
    // Phi(b) above 3e-7, so leaving Phi(a) out changes the mass by under 1e-10 of itself.
    let below = if a < -TAIL && b > -5.0 { 0.0 } else { ndtr(a) };
    (ndtr(b) - below).max(MIN_MASS).ln()
}

/// A uniform draw from `[0, 1)` with 53 random bits.
fn uniform(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The first index whose cumulative weight exceeds `u * total` (the last one at worst).
fn pick(cumulative: &[f64], u: f64) -> usize {
    let target = u * cumulative[cumulative.len() - 1];
    cumulative
        .partition_point(|&c| c <= target)
        .min(cumulative.len() - 1)
}

fn cumulative_sum(values: impl Iterator<Item = f64>) -> Vec<f64> {
    values
        .scan(0.0, |sum, v| {
            *sum += v;
            Some(*sum)
        })
        .collect()
}

/// Truncated normal kernels of one numeric parameter, one per component (the prior last).
#[derive(Debug)]
struct NumericKernels {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    /// The modelled range: on the log scale for log parameters, widened by half a step on each
    /// side for stepped ones (each value owns its cell).
    low: f64,
    high: f64,
    log: bool,
    step: Option<f64>,
    /// The distribution's own bounds, for snapping samples onto the grid.
    grid_low: f64,
    grid_high: f64,
}

impl NumericKernels {
    fn fit(values: impl ExactSizeIterator<Item = f64>, param: Param) -> Self {
        let Param::Numeric {
            low,
            high,
            step,
            log,
        } = param
        else {
            unreachable!("numeric kernels for a categorical parameter")
        };
        let (mut lo, mut hi) = match step {
            Some(step) => (low - step / 2.0, high + step / 2.0),
            None => (low, high),
        };
        // A trial from before the range changed may lie outside it: its kernel sits at the edge.
        let mut mus: Vec<f64> = values.map(|v| v.clamp(low, high)).collect();
        if log {
            // A stepped log parameter's lowest cell may reach below zero.
            lo = lo.max(MIN_POSITIVE).ln();
            hi = hi.ln();
            for m in &mut mus {
                *m = m.ln();
            }
        }
        let mut sigmas = bandwidths(&mus, lo, hi);
        mus.push(0.5 * (lo + hi));
        sigmas.push(hi - lo);
        Self {
            mus,
            sigmas,
            low: lo,
            high: hi,
            log,
            step,
            grid_low: low,
            grid_high: high,
        }
    }

    /// A range of one point: every draw is that point and every density the same.
    fn fixed(&self) -> bool {
        self.high <= self.low
    }

    /// Kernel `k`'s normal density scale: its bandwidth for a continuous kernel (whose log
    /// density has a `-ln(sigma)` term), 1 for the others.
    fn scale(&self, k: usize) -> f64 {
        if self.continuous() {
            self.sigmas[k]
        } else {
            1.0
        }
    }

    /// The rest of kernel `k`'s log density that does not depend on the value: the
    /// truncation's normalization, and the normal's `-ln(2 pi) / 2` for a continuous kernel.
    fn offset(&self, k: usize) -> f64 {
        if self.fixed() {
            return 0.0;
        }
        let log_z = log_mass(self.low, self.high, self.mus[k], self.sigmas[k]);
        match self.step {
            None => -0.5 * (2.0 * std::f64::consts::PI).ln() - log_z,
            Some(_) => -log_z,
        }
    }

    /// Continuous kernels are scored together, in [`Joint`]; the others one by one.
    fn continuous(&self) -> bool {
        self.step.is_none() && !self.fixed()
    }

    /// Adds each stepped kernel's log probability of `x`'s cell to `acc`.
    fn add_log_pdf(&self, x: f64, acc: &mut [f64]) {
        let Some(step) = self.step else { return };
        let (lo, hi) = if self.log {
            (
                (x - step / 2.0).max(MIN_POSITIVE).ln(),
                (x + step / 2.0).ln(),
            )
        } else {
            (x - step / 2.0, x + step / 2.0)
        };
        for ((a, &mu), &sigma) in acc.iter_mut().zip(&self.mus).zip(&self.sigmas) {
            *a += log_mass(lo, hi, mu, sigma);
        }
    }

    /// One draw from kernel `k`, by inverting the truncated normal's distribution function.
    #[allow(clippy::many_single_char_names)] // the textbook names of the inverse-CDF draw
    fn sample(&self, k: usize, rng: &mut impl Rng) -> f64 {
        if self.fixed() {
            return self.grid_low;
        }
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        let a = (self.low - mu) / sigma;
        let b = (self.high - mu) / sigma;
        // Sample the side of the normal away from the far tail, where ndtr keeps precision.
        let flip = a > 0.0;
        let (lo, hi) = if flip { (-b, -a) } else { (a, b) };
        let (p_lo, p_hi) = (ndtr(lo), ndtr(hi));
        let u = p_lo + (p_hi - p_lo) * uniform(rng);
        let z = ndtri(u.clamp(MIN_MASS, 1.0 - 1e-16));
        let t = (mu + sigma * if flip { -z } else { z }).clamp(self.low, self.high);
        let x = if self.log { t.exp() } else { t };
        let x = match self.step {
            Some(step) => self.grid_low + ((x - self.grid_low) / step).round_ties_even() * step,
            None => x,
        };
        x.clamp(self.grid_low, self.grid_high)
    }
}

/// Each kernel as wide as the larger gap to its neighbours (the range's ends count as
/// neighbours, except for the outermost kernels), clipped to `[range / min(100, n + 2),
/// range]`: the "magic clip" that keeps kernels from collapsing.
fn bandwidths(mus: &[f64], low: f64, high: f64) -> Vec<f64> {
    let n = mus.len();
    let mut sigmas = vec![0.0; n];
    if n == 0 {
        return sigmas;
    }
    let mut sorted: Vec<(f64, usize)> = mus.iter().copied().zip(0..).collect();
    sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let order: Vec<usize> = sorted.iter().map(|&(_, i)| i).collect();
    let padded: Vec<f64> = std::iter::once(low)
        .chain(sorted.iter().map(|&(mu, _)| mu))
        .chain(std::iter::once(high))
        .collect();
    for (rank, &i) in order.iter().enumerate() {
        let left = padded[rank + 1] - padded[rank];
        let right = padded[rank + 2] - padded[rank + 1];
        sigmas[i] = if n >= 2 && rank == 0 {
            right
        } else if n >= 2 && rank == n - 1 {
            left
        } else {
            left.max(right)
        };
    }
    let span = high - low;
    let floor = span / (n as f64 + 2.0).min(100.0);
    for sigma in &mut sigmas {
        *sigma = sigma.clamp(floor, span);
    }
    sigmas
}

/// Categorical kernels of one parameter: per component, the log probability of each choice.
#[derive(Debug)]
struct CategoricalKernels {
    choices: usize,
    /// Row-major, one row of `choices` per component.
    log_weights: Vec<f64>,
}

impl CategoricalKernels {
    fn fit(values: impl ExactSizeIterator<Item = f64>, choices: usize, prior_weight: f64) -> Self {
        let count = values.len();
        if count == 0 {
            let uniform = -(choices as f64).ln();
            return Self {
                choices,
                log_weights: vec![uniform; choices],
            };
        }
        let base = prior_weight / (count as f64 + 1.0);
        let mut weights = vec![base; (count + 1) * choices];
        for (row, value) in values.enumerate() {
            // An index beyond the choices (they changed since that trial) says nothing.
            if let Some(choice) = choice_index(value, choices) {
                weights[row * choices + choice] += 1.0;
            }
        }
        for row in weights.chunks_exact_mut(choices) {
            let total: f64 = row.iter().sum();
            for w in row {
                *w = (*w / total).ln();
            }
        }
        Self {
            choices,
            log_weights: weights,
        }
    }

    fn add_log_pdf(&self, x: f64, acc: &mut [f64]) {
        let Some(choice) = choice_index(x, self.choices) else {
            acc.fill(f64::NEG_INFINITY); // not one of the choices: impossible
            return;
        };
        for (a, row) in acc
            .iter_mut()
            .zip(self.log_weights.chunks_exact(self.choices))
        {
            *a += row[choice];
        }
    }

    fn sample(&self, k: usize, rng: &mut impl Rng) -> f64 {
        let row = &self.log_weights[k * self.choices..(k + 1) * self.choices];
        pick(&cumulative_sum(row.iter().map(|w| w.exp())), uniform(rng)) as f64
    }
}

/// The choice a categorical value stands for, if it is one of `0..choices`.
#[allow(clippy::cast_sign_loss)] // checked: a whole number from 0 up
fn choice_index(value: f64, choices: usize) -> Option<usize> {
    (value >= 0.0 && value.fract() == 0.0 && value < choices as f64).then_some(value as usize)
}

#[derive(Debug)]
enum Kernels {
    Numeric(NumericKernels),
    Categorical(CategoricalKernels),
}

/// The continuous parameters' kernels side by side, component-major, so that one pass over the
/// components sums each one's squared standardized distance to a point.
#[derive(Debug, Default)]
struct Joint {
    /// Which parameters (columns of a point) these are, and whether each is on a log scale.
    columns: Vec<usize>,
    log: Vec<bool>,
    mus: Vec<f64>,
    inv_sigmas: Vec<f64>,
}

impl Joint {
    fn new(kernels: &[Kernels], components: usize) -> Self {
        let members: Vec<(usize, &NumericKernels)> = kernels
            .iter()
            .enumerate()
            .filter_map(|(column, kernel)| match kernel {
                Kernels::Numeric(numeric) if numeric.continuous() => Some((column, numeric)),
                _ => None,
            })
            .collect();
        let mut joint = Self {
            columns: members.iter().map(|(column, _)| *column).collect(),
            log: members.iter().map(|(_, numeric)| numeric.log).collect(),
            mus: Vec::with_capacity(components * members.len()),
            inv_sigmas: Vec::with_capacity(components * members.len()),
        };
        for k in 0..components {
            for (_, numeric) in &members {
                joint.mus.push(numeric.mus[k]);
                joint.inv_sigmas.push(1.0 / numeric.sigmas[k]);
            }
        }
        joint
    }

    /// Adds each component's `-z^2 / 2` over these parameters at `point` to `acc`.
    fn add_log_pdf(&self, point: &[f64], acc: &mut [f64]) {
        let width = self.columns.len();
        if width == 0 {
            return;
        }
        let t: Vec<f64> = self
            .columns
            .iter()
            .zip(&self.log)
            .map(|(&column, &log)| {
                if log {
                    point[column].ln()
                } else {
                    point[column]
                }
            })
            .collect();
        let components = self
            .mus
            .chunks_exact(width)
            .zip(self.inv_sigmas.chunks_exact(width));
        for (a, (mus, inv_sigmas)) in acc.iter_mut().zip(components) {
            let mut squared = 0.0;
            for ((&x, &mu), &inv_sigma) in t.iter().zip(mus).zip(inv_sigmas) {
                let z = (x - mu) * inv_sigma;
                squared += z * z;
            }
            *a -= 0.5 * squared;
        }
    }
}

/// A weighted mixture over observations (one row per trial, one column per parameter) plus a
/// prior component.
#[derive(Debug)]
pub struct ParzenEstimator {
    params: usize,
    /// Cumulative mixture weights, for drawing a component.
    cumulative: Vec<f64>,
    /// Per component: its log weight plus every parameter's value-independent log density.
    constant: Vec<f64>,
    kernels: Vec<Kernels>,
    joint: Joint,
}

impl ParzenEstimator {
    /// Fits the mixture to `observations` (row-major, `weights.len()` rows of `params.len()`
    /// internal values), weighting each by `weights` and the prior by `prior_weight`.
    pub fn fit(
        observations: &[f64],
        weights: &[f64],
        params: &[Param],
        prior_weight: f64,
    ) -> Result<Self> {
        let (rows, columns) = (weights.len(), params.len());
        if observations.len() != rows * columns {
            return Err(Error::InvalidArgument(format!(
                "{} observed values do not make {rows} rows of {columns} parameters",
                observations.len()
            )));
        }
        if !(prior_weight.is_finite() && prior_weight > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "prior_weight must be a positive number, got {prior_weight}"
            )));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::InvalidArgument(
                "observation weights must be non-negative numbers".into(),
            ));
        }
        for param in params {
            param.check()?;
        }
        if observations.iter().any(|v| v.is_nan()) {
            return Err(Error::InvalidArgument(
                "observed values must be numbers, not NaN; leave out trials that lack a parameter"
                    .into(),
            ));
        }
        let mixture: Vec<f64> = if rows == 0 {
            vec![1.0]
        } else {
            weights.iter().copied().chain([prior_weight]).collect()
        };
        let total: f64 = mixture.iter().sum();
        let kernels: Vec<Kernels> = params
            .iter()
            .enumerate()
            .map(|(column, &param)| {
                let values = (0..rows).map(|row| observations[row * columns + column]);
                match param {
                    Param::Categorical { choices } => {
                        Kernels::Categorical(CategoricalKernels::fit(values, choices, prior_weight))
                    }
                    Param::Numeric { .. } => Kernels::Numeric(NumericKernels::fit(values, param)),
                }
            })
            .collect();
        let constant = (0..mixture.len())
            .map(|k| component_constant(&kernels, k, mixture[k] / total))
            .collect();
        Ok(Self {
            params: columns,
            joint: Joint::new(&kernels, mixture.len()),
            cumulative: cumulative_sum(mixture.into_iter()),
            constant,
            kernels,
        })
    }

    /// `size` points drawn from the mixture, row-major (`size` rows of one value per parameter).
    pub fn sample(&self, rng: &mut impl Rng, size: usize) -> Vec<f64> {
        let mut points = Vec::with_capacity(size * self.params);
        for _ in 0..size {
            let k = pick(&self.cumulative, uniform(rng));
            points.extend(self.kernels.iter().map(|kernel| match kernel {
                Kernels::Numeric(numeric) => numeric.sample(k, rng),
                Kernels::Categorical(categorical) => categorical.sample(k, rng),
            }));
        }
        points
    }

    /// The mixture's log density at each of `points` (row-major, one value per parameter).
    pub fn log_pdf(&self, points: &[f64]) -> Vec<f64> {
        let mut acc = vec![0.0; self.constant.len()];
        points
            .chunks_exact(self.params.max(1))
            .map(|point| {
                acc.copy_from_slice(&self.constant);
                self.joint.add_log_pdf(point, &mut acc);
                for (kernel, &x) in self.kernels.iter().zip(point) {
                    match kernel {
                        Kernels::Numeric(numeric) => numeric.add_log_pdf(x, &mut acc),
                        Kernels::Categorical(categorical) => categorical.add_log_pdf(x, &mut acc),
                    }
                }
                log_sum_exp(&acc)
            })
            .collect()
    }
}

/// Component `k`'s log weight plus every numeric kernel's value-independent log density.
/// The bandwidths are divided out of the weight before one logarithm, not each taken
/// separately: fitting a thousand trials' kernels spent a fifth of its time in `ln`.
fn component_constant(kernels: &[Kernels], k: usize, weight: f64) -> f64 {
    let numeric = || {
        kernels.iter().filter_map(|kernel| match kernel {
            Kernels::Numeric(numeric) => Some(numeric),
            Kernels::Categorical(_) => None,
        })
    };
    let offset: f64 = numeric().map(|n| n.offset(k)).sum();
    let density = numeric().fold(weight, |d, n| d / n.scale(k));
    if density.is_normal() {
        density.ln() + offset
    } else {
        // Under- or overflowed (or a zero weight): the logarithms one by one.
        weight.ln() - numeric().map(|n| n.scale(k).ln()).sum::<f64>() + offset
    }
}

/// `ln(sum(exp(values)))`, without overflow. Terms more than 50 below the largest add less
/// than 2e-22 each and are skipped (their sum stays far below one ulp of the total).
fn log_sum_exp(values: &[f64]) -> f64 {
    let peak = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !peak.is_finite() {
        return peak;
    }
    let total: f64 = values
        .iter()
        .filter(|&&v| v - peak > -50.0)
        .map(|v| (v - peak).exp())
        .sum();
    peak + total.ln()
}

/// One TPE step: fits a Parzen estimator to the good observations (`below`) and one to the
/// rest (`above`), draws `candidates` points from the good one with a generator seeded by
/// `seed`, and returns the point where the good density is highest relative to the rest.
#[allow(clippy::too_many_arguments)]
pub fn choose(
    below: &[f64],
    below_weights: &[f64],
    above: &[f64],
    above_weights: &[f64],
    params: &[Param],
    prior_weight: f64,
    candidates: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    if candidates == 0 {
        return Err(Error::InvalidArgument(
            "the number of candidates must be at least 1".into(),
        ));
    }
    let good = ParzenEstimator::fit(below, below_weights, params, prior_weight)?;
    let rest = ParzenEstimator::fit(above, above_weights, params, prior_weight)?;
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let points = good.sample(&mut rng, candidates);
    let scores = good
        .log_pdf(&points)
        .into_iter()
        .zip(rest.log_pdf(&points))
        .map(|(g, r)| g - r);
    // The first best on ties; a NaN score never wins.
    let (best, _) = scores
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bs), (i, s)| {
            if s > bs {
                (i, s)
            } else {
                (bi, bs)
            }
        });
    let width = params.len();
    Ok(points[best * width..(best + 1) * width].to_vec())
}

#[cfg(test)]
mod tests;
