//! The Parzen estimators and the TPE step, checked against what their math says.

use super::*;

fn float(low: f64, high: f64) -> Param {
    Param::Numeric {
        low,
        high,
        step: None,
        log: false,
    }
}

#[test]
fn normal_functions_match_known_values() {
    assert!((ndtr(0.0) - 0.5).abs() < 1e-15);
    // statrs' erfc is good to about 1e-12 here, far finer than sampling needs.
    assert!((ndtr(1.959_963_984_540_054) - 0.975).abs() < 1e-11);
    assert!((ndtri(0.975) - 1.959_963_984_540_054).abs() < 1e-9);
    // Deep in the lower tail the relative precision holds.
    assert!((ndtr(-30.0) / 4.906_713_927_148_187e-198 - 1.0).abs() < 1e-9);
    assert!((ndtri(1e-300) + 37.047_096_2).abs() < 1e-5);
}

#[test]
fn log_mass_is_the_log_of_the_interval_probability() {
    let whole = log_mass(f64::NEG_INFINITY, f64::INFINITY, 0.0, 1.0);
    assert!(whole.abs() < 1e-15);
    let half = log_mass(0.0, f64::INFINITY, 0.0, 1.0);
    assert!((half - 0.5f64.ln()).abs() < 1e-15);
    // An interval far above the mean: mirrored, so still finite and accurate.
    let tail = log_mass(30.0, 31.0, 0.0, 1.0);
    assert!((tail - ndtr(-30.0).ln()).abs() < 1e-6, "{tail}");
}

#[test]
fn a_kernel_cut_on_one_side_keeps_its_mass_to_ten_digits() {
    // Only the upper end cuts it (the lower one is 9 standard deviations away).
    let cut = log_mass(-9.0, 0.5, 0.0, 1.0);
    let exact = (ndtr(0.5) - ndtr(-9.0)).ln();
    assert!((cut - exact).abs() < 1e-10, "{cut} vs {exact}");
}

#[test]
fn densities_stay_finite_when_the_bandwidths_underflow_together() {
    // Five ranges of 1e-80: the product of the bandwidths is below the smallest double.
    let params = vec![float(0.0, 1e-80); 5];
    let estimator = ParzenEstimator::fit(&[5e-81; 5], &[1.0], &params, 1.0).unwrap();
    let density = estimator.log_pdf(&[5e-81; 5])[0];
    // Each dimension's density is of order 1e80: about 5 * ln(1e80) = 921 in all.
    assert!(
        density.is_finite() && (density - 921.0).abs() < 10.0,
        "{density}"
    );
}

#[test]
fn bandwidths_follow_the_neighbour_gaps_within_the_clip() {
    let sigmas = bandwidths(&[0.5, 0.1, 0.9], 0.0, 1.0);
    // Outermost kernels take their inner gap; the middle one the larger of its two.
    assert_eq!(sigmas, vec![0.4, 0.4, 0.4]);
    let clipped = bandwidths(&[0.5, 0.5], 0.0, 1.0);
    assert_eq!(clipped, vec![0.25, 0.25]); // the floor: range / (n + 2)
}

#[test]
fn samples_stay_in_range_and_on_the_grid() {
    let params = [
        float(-2.0, 3.0),
        Param::Numeric {
            low: 1e-3,
            high: 10.0,
            step: None,
            log: true,
        },
        Param::Numeric {
            low: 1.0,
            high: 9.0,
            step: Some(2.0),
            log: false,
        },
        Param::Numeric {
            low: 1.0,
            high: 64.0,
            step: Some(1.0),
            log: true,
        },
        Param::Categorical { choices: 3 },
    ];
    let observations = [0.5, 0.1, 3.0, 8.0, 2.0, -1.0, 5.0, 9.0, 33.0, 0.0];
    let estimator = ParzenEstimator::fit(&observations, &[1.0, 1.0], &params, 1.0).unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let points = estimator.sample(&mut rng, 2_000);
    for point in points.chunks_exact(5) {
        assert!((-2.0..=3.0).contains(&point[0]));
        assert!((1e-3..=10.0).contains(&point[1]));
        assert!([1.0, 3.0, 5.0, 7.0, 9.0].contains(&point[2]), "{point:?}");
        assert!((1.0..=64.0).contains(&point[3]) && point[3].fract() == 0.0);
        assert!([0.0, 1.0, 2.0].contains(&point[4]));
    }
    assert!(estimator.log_pdf(&points).iter().all(|p| p.is_finite()));
}

#[test]
fn a_one_dimensional_density_integrates_to_one() {
    let estimator =
        ParzenEstimator::fit(&[0.2, 0.25, 0.8], &[1.0; 3], &[float(0.0, 1.0)], 1.0).unwrap();
    let n = 20_000;
    let grid: Vec<f64> = (0..n)
        .map(|i| (f64::from(i) + 0.5) / f64::from(n))
        .collect();
    let integral: f64 = estimator
        .log_pdf(&grid)
        .iter()
        .map(|p| p.exp() / f64::from(n))
        .sum();
    assert!((integral - 1.0).abs() < 1e-6, "{integral}");
}

#[test]
fn categorical_masses_sum_to_one_and_favour_observed_choices() {
    let params = [Param::Categorical { choices: 4 }];
    let estimator = ParzenEstimator::fit(&[2.0, 2.0, 1.0], &[1.0; 3], &params, 1.0).unwrap();
    let masses: Vec<f64> = estimator
        .log_pdf(&[0.0, 1.0, 2.0, 3.0])
        .iter()
        .map(|p| p.exp())
        .collect();
    assert!((masses.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(masses[2] > masses[1] && masses[1] > masses[0]);
    assert!((masses[0] - masses[3]).abs() < 1e-15);
}

#[test]
fn choose_prefers_the_good_region_and_is_reproducible() {
    let params = [float(0.0, 1.0), float(0.0, 1.0)];
    // Good trials near (0.2, 0.2), the rest near (0.8, 0.8).
    let below = [0.2, 0.21, 0.19, 0.2, 0.22, 0.18];
    let above: Vec<f64> = (0..50)
        .flat_map(|i| {
            [
                0.7 + f64::from(i % 10) / 50.0,
                0.7 + f64::from(i / 10) / 25.0,
            ]
        })
        .collect();
    let pick = |seed| {
        choose(
            &below, &[1.0; 3], &above, &[1.0; 50], &params, 1.0, 24, seed,
        )
    };
    let first = pick(3).unwrap();
    assert_eq!(first, pick(3).unwrap());
    assert_ne!(first, pick(4).unwrap());
    for seed in 0..20 {
        let point = pick(seed).unwrap();
        assert!(point[0] < 0.5 && point[1] < 0.5, "{point:?}");
    }
}

#[test]
fn without_observations_the_prior_alone_is_sampled() {
    let params = [float(5.0, 6.0)];
    let point = choose(&[], &[], &[], &[], &params, 1.0, 8, 1).unwrap();
    assert!((5.0..=6.0).contains(&point[0]));
}

#[test]
fn a_single_valued_range_gives_that_value() {
    let params = [float(2.0, 2.0)];
    let point = choose(&[2.0], &[1.0], &[2.0], &[1.0], &params, 1.0, 4, 1).unwrap();
    assert_eq!(point, vec![2.0]);
}

#[test]
fn observations_from_an_older_range_are_kept_at_its_edge() {
    let narrowed = ParzenEstimator::fit(&[1.5, 0.5], &[1.0; 2], &[float(0.0, 1.0)], 1.0).unwrap();
    let Kernels::Numeric(kernels) = &narrowed.kernels[0] else {
        unreachable!()
    };
    assert_eq!(kernels.mus[..2], [1.0, 0.5]);
    let fewer_choices = [Param::Categorical { choices: 2 }];
    let estimator = ParzenEstimator::fit(&[3.0, 1.0], &[1.0; 2], &fewer_choices, 1.0).unwrap();
    let mass: f64 = estimator.log_pdf(&[0.0, 1.0]).iter().map(|p| p.exp()).sum();
    assert!((mass - 1.0).abs() < 1e-12);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let params = [float(0.0, 1.0)];
    let err = |r: Result<Vec<f64>>| r.unwrap_err().to_string();
    assert!(
        err(choose(&[0.5, 0.5], &[1.0], &[], &[], &params, 1.0, 4, 0))
            .contains("do not make 1 rows")
    );
    assert!(err(choose(&[f64::NAN], &[1.0], &[], &[], &params, 1.0, 4, 0)).contains("NaN"));
    assert!(err(choose(&[], &[], &[], &[], &params, 0.0, 4, 0)).contains("prior_weight"));
    assert!(err(choose(&[], &[], &[], &[], &params, 1.0, 0, 0)).contains("candidates"));
    let inverted = [float(1.0, 0.0)];
    assert!(err(choose(&[], &[], &[], &[], &inverted, 1.0, 4, 0)).contains("swap"));
    let log = [Param::Numeric {
        low: 0.0,
        high: 1.0,
        step: None,
        log: true,
    }];
    assert!(err(choose(&[], &[], &[], &[], &log, 1.0, 4, 0)).contains("positive low"));
}
