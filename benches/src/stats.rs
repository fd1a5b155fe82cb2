//! Summaries of timings.

use std::time::Duration;

/// Median, 99th percentile and maximum of a sample, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Summary {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Summary { median: at(0.5), p99: at(0.99), max: *ms.last().unwrap_or(&0.0) }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "median {:.3} ms, p99 {:.3} ms, max {:.3} ms", self.median, self.p99, self.max)
    }
}
