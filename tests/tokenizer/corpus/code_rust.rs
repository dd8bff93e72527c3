use std::collections::HashMap;
use std::fmt;

/// A token bucket that refills continuously at `rate` tokens per second.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    tokens: f64,
    rate: f64,
    last_ns: u128,
}

impl Bucket {
    pub fn new(capacity: f64, rate: f64, now_ns: u128) -> Self {
        Self { capacity, tokens: capacity, rate, last_ns: now_ns }
    }

    pub fn take(&mut self, n: f64, now_ns: u128) -> Result<(), Wait> {
        let elapsed = (now_ns.saturating_sub(self.last_ns)) as f64 / 1e9;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last_ns = now_ns;
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            Err(Wait { seconds: (n - self.tokens) / self.rate })
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct Wait { pub seconds: f64 }

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "retry in {:.3}s", self.seconds)
    }
}

fn main() {
    let mut buckets: HashMap<&str, Bucket> = HashMap::new();
    buckets.entry("acme/support").or_insert_with(|| Bucket::new(10.0, 2.5, 0));
    for (i, t) in [0u128, 100_000_000, 250_000_000].iter().enumerate() {
        match buckets.get_mut("acme/support").unwrap().take(4.0, *t) {
            Ok(()) => println!("#{i}: ok"),
            Err(w) => println!("#{i}: {w}"),
        }
    }
}
