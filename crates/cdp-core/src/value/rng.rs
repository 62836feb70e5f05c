//! A small deterministic random generator: xoshiro256** seeded through splitmix64, with the
//! samplers the value models and their tests need (uniform, normal, exponential, Gamma via
//! Marsaglia–Tsang, Beta). Same seed, same stream, on every platform.

/// splitmix64 step: used to expand a 64-bit seed into the xoshiro state.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let mut s = [0u64; 4];
        for v in s.iter_mut() {
            *v = splitmix64(&mut sm);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform on the open interval (0, 1): never exactly 0 or 1.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (n > 0), without modulo bias worth caring about (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Standard normal (Marsaglia polar method; the spare value is discarded for simplicity).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * s.ln() / s).sqrt();
            }
        }
    }

    /// Exponential with the given rate.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform().ln() / rate
    }

    /// Gamma(shape, rate) by Marsaglia & Tsang (2000); shape < 1 via the boost
    /// Gamma(shape) = Gamma(shape + 1) · U^(1/shape).
    pub fn gamma(&mut self, shape: f64, rate: f64) -> f64 {
        assert!(shape > 0.0 && rate > 0.0, "gamma({shape}, {rate})");
        if shape < 1.0 {
            let g = self.gamma(shape + 1.0, 1.0);
            let u = self.uniform();
            return g * u.powf(1.0 / shape) / rate;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let (x, v) = loop {
                let x = self.normal();
                let v = 1.0 + c * x;
                if v > 0.0 {
                    break (x, v * v * v);
                }
            };
            let u = self.uniform();
            if u < 1.0 - 0.0331 * x * x * x * x || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v / rate;
            }
        }
    }

    /// Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
        (m, v)
    }

    #[test]
    fn deterministic_stream() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = Rng::new(43);
        assert_ne!(Rng::new(42).next_u64(), c.next_u64());
    }

    #[test]
    fn uniform_open_interval_and_moments() {
        let mut r = Rng::new(1);
        let xs: Vec<f64> = (0..200_000).map(|_| r.uniform()).collect();
        assert!(xs.iter().all(|&x| x > 0.0 && x < 1.0));
        let (m, v) = mean_var(&xs);
        assert!((m - 0.5).abs() < 0.005);
        assert!((v - 1.0 / 12.0).abs() < 0.002);
    }

    #[test]
    fn gamma_and_beta_moments() {
        let mut r = Rng::new(7);
        for &(k, rate) in &[
            (0.24, 30.87),
            (0.79, 1.0),
            (3.74, 15.44),
            (6.25, 2.0),
            (1.0, 0.5),
        ] {
            let xs: Vec<f64> = (0..200_000).map(|_| r.gamma(k, rate)).collect();
            let (m, v) = mean_var(&xs);
            let (em, ev) = (k / rate, k / (rate * rate));
            assert!(
                (m - em).abs() / em < 0.02,
                "gamma({k},{rate}) mean {m} vs {em}"
            );
            assert!(
                (v - ev).abs() / ev < 0.06,
                "gamma({k},{rate}) var {v} vs {ev}"
            );
        }
        let (a, b) = (0.79, 2.43);
        let xs: Vec<f64> = (0..200_000).map(|_| r.beta(a, b)).collect();
        let (m, v) = mean_var(&xs);
        let em = a / (a + b);
        let ev = a * b / ((a + b) * (a + b) * (a + b + 1.0));
        assert!((m - em).abs() / em < 0.01, "beta mean {m} vs {em}");
        assert!((v - ev).abs() / ev < 0.03, "beta var {v} vs {ev}");
    }

    #[test]
    fn normal_moments() {
        let mut r = Rng::new(9);
        let xs: Vec<f64> = (0..200_000).map(|_| r.normal()).collect();
        let (m, v) = mean_var(&xs);
        assert!(m.abs() < 0.01);
        assert!((v - 1.0).abs() < 0.01);
    }
}
