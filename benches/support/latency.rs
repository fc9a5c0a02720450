//! A latency histogram for the event benchmarks, in µs.

/// Latency buckets: 10 µs up to 2 ms, 250 µs up to 50 ms, 10 ms up to 1 s, then one more.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    pub max_us: u64,
}

impl Histogram {
    const BUCKETS: usize = 200 + 192 + 95 + 1;

    pub fn new() -> Self {
        Self {
            counts: vec![0; Self::BUCKETS],
            max_us: 0,
        }
    }

    fn bucket(us: u64) -> usize {
        match us {
            0..2_000 => (us / 10) as usize,
            2_000..50_000 => 200 + ((us - 2_000) / 250) as usize,
            50_000..1_000_000 => 392 + ((us - 50_000) / 10_000) as usize,
            _ => Self::BUCKETS - 1,
        }
    }

    /// The upper bound of a bucket, in µs.
    fn upper(bucket: usize) -> u64 {
        match bucket {
            0..200 => (bucket as u64 + 1) * 10,
            200..392 => 2_000 + (bucket as u64 - 199) * 250,
            392..487 => 50_000 + (bucket as u64 - 391) * 10_000,
            _ => u64::MAX,
        }
    }

    pub fn record(&mut self, us: u64) {
        self.counts[Self::bucket(us)] += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn quantile(&self, q: f64) -> u64 {
        let target = ((self.total() as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= target {
                return Self::upper(bucket).min(self.max_us);
            }
        }
        0
    }
}
