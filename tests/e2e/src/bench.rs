//! What the benchmarks (`src/bin/bench-*.rs`) share for reading their samples.

use std::time::Duration;

/// The nearest-rank percentile `p` (0.0 to 1.0) of samples sorted ascending; `None`
/// when there are none.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let last = sorted.len() - 1;
    let index = ((last as f64) * p.clamp(0.0, 1.0)).round() as usize;
    sorted.get(index.min(last)).copied()
}

/// Sorts `latencies` and answers their percentile `p` in milliseconds (NaN when there
/// are none, which prints as such in a results table).
pub fn percentile_ms(latencies: &mut [Duration], p: f64) -> f64 {
    latencies.sort_unstable();
    nearest_rank(latencies, p).map_or(f64::NAN, |at| at.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&samples, 0.5), Some(51));
        assert_eq!(nearest_rank(&samples, 0.99), Some(99));
        assert_eq!(nearest_rank(&samples, 1.0), Some(100));
        assert_eq!(nearest_rank::<u32>(&[], 0.5), None);
        let mut latencies = vec![Duration::from_millis(30), Duration::from_millis(10)];
        assert!((percentile_ms(&mut latencies, 0.0) - 10.0).abs() < 1e-9);
        assert!(percentile_ms(&mut [], 0.5).is_nan());
    }
}
