//! The GP posterior, the acquisition and the box-constrained search, checked against their math
//! and against finite differences.

use super::*;

/// The inverse of a small symmetric positive definite matrix, by Gauss-Jordan elimination.
fn invert(matrix: &[f64], n: usize) -> Vec<f64> {
    let mut a = matrix.to_vec();
    let mut inv: Vec<f64> = (0..n * n)
        .map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    for col in 0..n {
        let pivot = a[col * n + col];
        for j in 0..n {
            a[col * n + j] /= pivot;
            inv[col * n + j] /= pivot;
        }
        for row in 0..n {
            if row != col {
                let factor = a[row * n + col];
                for j in 0..n {
                    a[row * n + j] -= factor * a[col * n + j];
                    inv[row * n + j] -= factor * inv[col * n + j];
                }
            }
        }
    }
    inv
}

/// A GP fitted (with the given hyperparameters) to `y` at `x`, as the sampler would build it.
fn gp(x: &[f64], y: &[f64], lam: &[f64], categorical: &[bool], noise: f64) -> Posterior {
    let (n, dims) = (y.len(), lam.len());
    let mut cov = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..n {
            let mut r2 = 0.0;
            for j in 0..dims {
                let d = x[a * dims + j] - x[b * dims + j];
                r2 += lam[j]
                    * if categorical[j] {
                        f64::from(u8::from(d != 0.0))
                    } else {
                        d * d
                    };
            }
            cov[a * n + b] = matern(r2).0 + if a == b { noise } else { 0.0 };
        }
    }
    let inverse = invert(&cov, n);
    let alpha: Vec<f64> = inverse.chunks_exact(n).map(|row| dot(row, y)).collect();
    Posterior::new(
        x.to_vec(),
        alpha,
        inverse,
        lam.to_vec(),
        categorical.to_vec(),
        1.0,
    )
    .unwrap()
}

fn example() -> Posterior {
    let x = [0.1, 0.2, 0.0, 0.5, 0.9, 1.0, 0.8, 0.3, 0.0, 0.4, 0.6, 1.0];
    gp(
        &x,
        &[0.3, -1.0, 1.2, 0.1],
        &[4.0, 9.0, 0.5],
        &[false, false, true],
        1e-4,
    )
}

/// Central differences of `f` at `point` along each continuous coordinate.
fn numeric_gradient(f: impl Fn(&[f64]) -> f64, point: &[f64], continuous: &[bool]) -> Vec<f64> {
    let h = 1e-6;
    (0..point.len())
        .map(|j| {
            if !continuous[j] {
                return 0.0;
            }
            let (mut up, mut down) = (point.to_vec(), point.to_vec());
            up[j] += h;
            down[j] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

#[test]
fn the_normal_tails_match_scipy_and_join_smoothly() {
    // mpmath at 40 digits (scipy.special.log_ndtr agrees).
    let log_ndtr_values = [
        (-40.0, -804.608_442_013_753_9),
        (-30.0, -454.321_243_956_343_27),
        (-25.0, -316.639_408_008_020_26),
        (-20.0, -203.917_155_371_097_3),
        (-10.0, -53.231_285_150_512_48),
        (-3.0, -6.607_726_221_510_35),
        (0.0, -std::f64::consts::LN_2),
        (3.0, -0.001_350_809_964_748_192_5),
        (10.0, -7.619_853_024_160_47e-24),
    ];
    for (z, expected) in log_ndtr_values {
        let got = log_ndtr(z);
        assert!(
            (got - expected).abs() <= 1e-12 * expected.abs(),
            "log_ndtr({z}) = {got}"
        );
    }
    let log_h_values = [
        (-40.0, -808.298_568_356_619_7),
        (-30.0, -457.724_653_760_597_9),
        (-20.0, -206.917_838_509_417_1),
        (-10.0, -55.553_122_036_121_735),
        (0.0, -LOG_SQRT_2PI),
        (10.0, std::f64::consts::LN_10),
    ];
    for (z, expected) in log_h_values {
        let got = log_h(z);
        assert!(
            (got - expected).abs() <= 1e-11 * expected.abs(),
            "log_h({z}) = {got}"
        );
    }
    for f in [log_ndtr, log_h] {
        let (below, above) = (f(TAIL_Z - 1e-9), f(TAIL_Z + 1e-9));
        // Both slopes are about 25 there: 2e-9 apart, the values differ by 5e-8.
        assert!((below - above).abs() < 6e-8, "{below} vs {above}");
        assert!(f(-1e4).is_finite());
    }
}

#[test]
fn the_posterior_interpolates_and_its_gradients_match_differences() {
    let model = example();
    let at_trial = model.predict(&[0.1, 0.2, 0.0]);
    assert!((at_trial.mean - 0.3).abs() < 1e-2, "{}", at_trial.mean);
    assert!(at_trial.var < 1e-2);
    let point = [0.35, 0.6, 1.0];
    let p = model.predict(&point);
    let continuous = [true, true, false];
    let dmean = numeric_gradient(|q| model.predict(q).mean, &point, &continuous);
    let dvar = numeric_gradient(|q| model.predict(q).var, &point, &continuous);
    assert!(close(&p.dmean, &dmean, 1e-6), "{:?} vs {dmean:?}", p.dmean);
    assert!(close(&p.dvar, &dvar, 1e-6), "{:?} vs {dvar:?}", p.dvar);
    assert!(p.dmean[2].abs() < 1e-300, "a category has no gradient");
}

#[test]
fn the_acquisition_gradient_matches_differences_with_constraints_too() {
    let constraint = gp(
        &[0.1, 0.2, 0.0, 0.5, 0.9, 1.0, 0.8, 0.3, 0.0, 0.4, 0.6, 1.0],
        &[-0.5, 0.4, 0.2, -1.0],
        &[2.0, 2.0, 1.0],
        &[false, false, true],
        1e-4,
    );
    let acquisition = Acquisition::new(Some((example(), 0.5)), vec![constraint]).unwrap();
    let mut grad = vec![0.0; 3];
    for point in [[0.35, 0.6, 1.0], [0.9, 0.05, 0.0], [0.02, 0.98, 1.0]] {
        let value = acquisition.evaluate(&point, &mut grad);
        assert!(value.is_finite());
        let numeric = numeric_gradient(
            |q| acquisition.evaluate(q, &mut [0.0; 3]),
            &point,
            &[true, true, false],
        );
        assert!(close(&grad, &numeric, 1e-5), "{grad:?} vs {numeric:?}");
    }
}

#[test]
fn the_search_finds_a_minimum_inside_the_box_and_holds_at_a_bound() {
    // (x - 0.3)^2 + 10 (y - 0.7)^2 + (z - 1.5)^2: z's minimum lies beyond the box.
    let mut fun = |x: &[f64], g: &mut [f64]| {
        g[0] = 2.0 * (x[0] - 0.3);
        g[1] = 20.0 * (x[1] - 0.7);
        g[2] = 2.0 * (x[2] - 1.5);
        (x[0] - 0.3).powi(2) + 10.0 * (x[1] - 0.7).powi(2) + (x[2] - 1.5).powi(2)
    };
    let (x, f) = minimize_in_box(
        &mut fun,
        vec![0.9, 0.1, 0.2],
        &[1.0; 3],
        SearchOptions::default(),
    );
    assert!(close(&x, &[0.3, 0.7, 1.0], 1e-4), "{x:?}");
    assert!((f - 0.25).abs() < 1e-7, "{f}");
}

#[test]
fn maximizing_the_acquisition_improves_every_start_and_keeps_categories() {
    let acquisition = Acquisition::new(Some((example(), 0.5)), vec![]).unwrap();
    let mut grad = vec![0.0; 3];
    for start in [[0.35, 0.6, 1.0], [0.9, 0.05, 0.0], [0.5, 0.5, 0.0]] {
        let before = acquisition.evaluate(&start, &mut grad);
        let (point, value) = maximize(
            &acquisition,
            &start,
            &[true, true, false],
            &[0.5, 0.33],
            SearchOptions::default(),
        )
        .unwrap();
        assert!(value >= before, "{value} < {before}");
        assert_eq!(point[2].to_bits(), start[2].to_bits());
        assert!(point.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!((acquisition.evaluate(&point, &mut grad) - value).abs() < 1e-12);
    }
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let short = Posterior::new(
        vec![0.0; 3],
        vec![0.0; 2],
        vec![0.0; 4],
        vec![1.0; 2],
        vec![false; 2],
        1.0,
    );
    assert!(matches!(short, Err(Error::InvalidArgument(m)) if m.contains("needs 4 inputs")));
    let nan = Posterior::new(
        vec![f64::NAN; 2],
        vec![0.0],
        vec![1.0],
        vec![1.0; 2],
        vec![false; 2],
        1.0,
    );
    assert!(matches!(nan, Err(Error::InvalidArgument(m)) if m.contains("finite")));
    assert!(Acquisition::new(None, vec![]).is_err());
    assert!(Acquisition::new(Some((example(), f64::NAN)), vec![]).is_err());
    let acquisition = Acquisition::new(Some((example(), 0.0)), vec![]).unwrap();
    let wrong = maximize(
        &acquisition,
        &[0.5; 2],
        &[true; 2],
        &[1.0; 2],
        SearchOptions::default(),
    );
    assert!(matches!(wrong, Err(Error::InvalidArgument(m)) if m.contains("3 free flags")));
}
