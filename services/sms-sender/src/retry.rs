//! Backoff between attempts: exponential with jitter, so that a burst of failures does
//! not come back as a burst of retries.

use rand::Rng;

const BASE_SECONDS: u32 = 2;
const CAP_SECONDS: u32 = 300;

/// Seconds to wait before attempt `attempt + 1`, given `attempt` failures so far (>= 1):
/// a random value between half and all of `min(2 * 2^(attempt-1), 300)`.
pub fn backoff_seconds(attempt: u32) -> u32 {
    let exponent = attempt.saturating_sub(1).min(16);
    let ceiling = BASE_SECONDS.saturating_mul(1 << exponent).min(CAP_SECONDS);
    rand::rng().random_range(ceiling / 2..=ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_jitter_inside_bounds() {
        for _ in 0..200 {
            let first = backoff_seconds(1);
            assert!((1..=2).contains(&first), "{first}");
            let third = backoff_seconds(3);
            assert!((4..=8).contains(&third), "{third}");
            let late = backoff_seconds(30);
            assert!((150..=300).contains(&late), "{late}");
        }
    }
}
