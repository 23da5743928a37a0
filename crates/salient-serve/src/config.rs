//! [`ServeConfig`]: batching, queue and input limits of the server.

use std::time::Duration;

/// How the server batches, queues and limits requests. The defaults suit one CPU model worker.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Most images run through the model in one forward pass.
    pub max_batch: usize,
    /// Longest a worker waits, after taking a batch's first image, for more to fill the batch.
    pub max_wait: Duration,
    /// Largest request body accepted, in bytes (beyond: `413`).
    pub max_body_bytes: usize,
    /// Largest image accepted, in pixels (`width × height`, read from the header before decoding;
    /// beyond: `422`). The default, 40 megapixels, admits an 8K frame (7680 × 4320 ≈ 33 MP) and
    /// the photos of most cameras; a header claiming 100000 × 100000 is refused unread.
    pub max_pixels: u64,
    /// Requests admitted at once (reading, decoding, waiting for or in the model, encoding); the
    /// next one gets `503` with `Retry-After`. This bounds memory (see the crate documentation).
    pub max_queue: usize,
    /// Model worker threads, each running one batch at a time on the shared model. One suits a
    /// CPU (a batch already uses every core); more can overlap batches on a GPU.
    pub workers: usize,
    /// Seconds a client is told to wait (`Retry-After`) when the queue is full.
    pub retry_after_s: u32,
}

/// Default [`ServeConfig::max_pixels`].
pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            max_batch: 4,
            max_wait: Duration::from_millis(5),
            max_body_bytes: 32 << 20,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_queue: 32,
            workers: 1,
            retry_after_s: 1,
        }
    }
}

impl ServeConfig {
    /// Checks that every limit is usable; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_batch == 0 {
            return Err("max batch must be at least 1".into());
        }
        if self.workers == 0 {
            return Err("workers must be at least 1".into());
        }
        if self.max_queue == 0 {
            return Err("max queue must be at least 1".into());
        }
        if self.max_body_bytes == 0 {
            return Err("max body size must be at least 1 byte".into());
        }
        if self.max_pixels == 0 {
            return Err("max pixels must be at least 1".into());
        }
        Ok(())
    }
}
