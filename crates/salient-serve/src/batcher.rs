//! Dynamic batching: requests' images go into one bounded queue; worker threads each take the
//! first waiting image, then whatever else arrives within `max_wait`, up to `max_batch` images,
//! and run them through the model as one batch.
//!
//! Workers are plain threads, not tokio tasks: a forward pass keeps every core busy for tens of
//! milliseconds, which would stall the HTTP runtime. Each answer goes back on a oneshot channel.
//! A model error or panic fails the requests of that batch only; the worker goes on.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use salient_data::{MapF32, RgbImage};
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::model::SaliencyModel;

/// How a [`Batcher`] groups and runs images.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    pub max_batch: usize,
    pub max_wait: Duration,
    pub workers: usize,
    /// Images that may wait in the queue.
    pub capacity: usize,
}

/// A prediction's outcome: the map at the image's size, or why there is none.
pub type Reply = Result<MapF32, ApiError>;

struct Job {
    image: Arc<RgbImage>,
    reply: oneshot::Sender<Reply>,
}

/// The queue and its worker threads.
pub struct Batcher {
    sender: Mutex<Option<Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    capacity: usize,
}

impl Batcher {
    /// Starts `cfg.workers` threads running `model`.
    pub fn start(model: Arc<dyn SaliencyModel>, cfg: BatchConfig, metrics: Arc<Metrics>) -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(cfg.capacity.max(1));
        let workers = (0..cfg.workers.max(1))
            .map(|i| {
                let receiver = receiver.clone();
                let model = Arc::clone(&model);
                let metrics = Arc::clone(&metrics);
                std::thread::Builder::new()
                    .name(format!("salient-model-{i}"))
                    .spawn(move || work(&*model, &receiver, cfg, &metrics))
                    .expect("spawning a model worker thread")
            })
            .collect();
        Self {
            sender: Mutex::new(Some(sender)),
            workers: Mutex::new(workers),
            metrics,
            capacity: cfg.capacity,
        }
    }

    /// Queues `image`; the receiver yields its map. Refused when the queue is full (`503`
    /// `queue_full`) or the batcher is stopping (`503` `shutting_down`).
    pub fn submit(&self, image: Arc<RgbImage>) -> Result<oneshot::Receiver<Reply>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let guard = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        let sender = guard.as_ref().ok_or_else(ApiError::shutting_down)?;
        match sender.try_send(Job { image, reply }) {
            Ok(()) => {
                self.metrics.queue_depth.inc();
                Ok(answer)
            }
            Err(TrySendError::Full(_)) => Err(ApiError::queue_full(self.capacity, 1)),
            Err(TrySendError::Disconnected(_)) => Err(ApiError::shutting_down()),
        }
    }

    /// Stops taking images, lets the workers finish what is queued, and waits for them.
    pub fn shutdown(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for worker in workers {
            // A worker never panics (the model call is guarded); nothing to report if one did.
            let _ = worker.join();
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One worker: batches until the queue is closed and empty.
fn work(model: &dyn SaliencyModel, queue: &Receiver<Job>, cfg: BatchConfig, metrics: &Metrics) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + cfg.max_wait;
        while jobs.len() < cfg.max_batch {
            match queue.recv_deadline(deadline) {
                Ok(job) => jobs.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        metrics.queue_depth.dec_by(jobs.len() as i64);
        // A client that hung up needs no map.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        run_batch(model, jobs, metrics);
    }
}

fn run_batch(model: &dyn SaliencyModel, jobs: Vec<Job>, metrics: &Metrics) {
    let started = Instant::now();
    let outcome = {
        let images: Vec<&RgbImage> = jobs.iter().map(|job| &*job.image).collect();
        std::panic::catch_unwind(AssertUnwindSafe(|| model.predict_batch(&images)))
    };
    metrics.batch_size.observe(jobs.len() as f64);
    metrics
        .model_seconds
        .observe(started.elapsed().as_secs_f64());
    let maps = match outcome {
        Ok(Ok(maps)) if maps.len() == jobs.len() => maps,
        Ok(Ok(maps)) => {
            let message = format!(
                "the model returned {} maps for {} images",
                maps.len(),
                jobs.len()
            );
            return fail_all(jobs, &message);
        }
        Ok(Err(e)) => return fail_all(jobs, &format!("the model failed: {e}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            return fail_all(jobs, &format!("the model panicked: {what}"));
        }
    };
    for (job, map) in jobs.into_iter().zip(maps) {
        // The client may have gone meanwhile; its map is dropped.
        let _ = job.reply.send(Ok(map));
    }
}

fn fail_all(jobs: Vec<Job>, message: &str) {
    for job in jobs {
        let _ = job.reply.send(Err(ApiError::model_failed(message)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records batch sizes; maps are constant 0.5; panics on a 1×1 image.
    struct Recorder {
        batches: Mutex<Vec<usize>>,
        delay: Duration,
    }

    impl SaliencyModel for Recorder {
        fn predict_batch(&self, images: &[&RgbImage]) -> Result<Vec<MapF32>, String> {
            self.batches.lock().unwrap().push(images.len());
            std::thread::sleep(self.delay);
            assert!(images.iter().all(|i| i.width() > 1), "poisoned image");
            Ok(images
                .iter()
                .map(|i| MapF32 {
                    width: i.width() as usize,
                    height: i.height() as usize,
                    data: vec![0.5; (i.width() * i.height()) as usize],
                })
                .collect())
        }
    }

    fn config(max_batch: usize, capacity: usize) -> BatchConfig {
        BatchConfig {
            max_batch,
            max_wait: Duration::from_millis(200),
            workers: 1,
            capacity,
        }
    }

    fn image(side: u32) -> Arc<RgbImage> {
        Arc::new(RgbImage::new(side, side))
    }

    #[test]
    fn waiting_images_are_batched_up_to_the_limit() {
        let model = Arc::new(Recorder {
            batches: Mutex::new(Vec::new()),
            delay: Duration::from_millis(50),
        });
        let metrics = Arc::new(Metrics::new(3));
        let batcher = Batcher::start(model.clone(), config(3, 16), metrics);
        let answers: Vec<_> = (0..7).map(|_| batcher.submit(image(8)).unwrap()).collect();
        for answer in answers {
            let map = answer.blocking_recv().unwrap().unwrap();
            assert_eq!((map.width, map.height), (8, 8));
        }
        assert_eq!(*model.batches.lock().unwrap(), vec![3, 3, 1]);
    }

    #[test]
    fn a_full_queue_refuses_and_a_panic_fails_only_its_batch() {
        let model = Arc::new(Recorder {
            batches: Mutex::new(Vec::new()),
            delay: Duration::from_millis(100),
        });
        let metrics = Arc::new(Metrics::new(1));
        let batcher = Batcher::start(model, config(1, 2), Arc::clone(&metrics));
        let poisoned = batcher.submit(image(1)).unwrap();
        // Wait until the worker holds the poisoned image, so the queue is empty again.
        while metrics.queue_depth.get() != 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let queued: Vec<_> = (0..2).map(|_| batcher.submit(image(4)).unwrap()).collect();
        let refused = batcher.submit(image(4)).unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (503, "queue_full"));
        assert_eq!(refused.retry_after_s, Some(1));
        let failed = poisoned.blocking_recv().unwrap().unwrap_err();
        assert_eq!(failed.code, "model_failed");
        assert!(failed.message.contains("poisoned image"), "{failed}");
        for answer in queued {
            assert!(answer.blocking_recv().unwrap().is_ok());
        }
    }

    #[test]
    fn shutdown_finishes_the_queue_then_refuses() {
        let count = Arc::new(AtomicUsize::new(0));
        struct Counting(Arc<AtomicUsize>);
        impl SaliencyModel for Counting {
            fn predict_batch(&self, images: &[&RgbImage]) -> Result<Vec<MapF32>, String> {
                std::thread::sleep(Duration::from_millis(20));
                self.0.fetch_add(images.len(), Ordering::SeqCst);
                Ok(images.iter().map(|_| MapF32::zeros(2, 2)).collect())
            }
        }
        let batcher = Batcher::start(
            Arc::new(Counting(Arc::clone(&count))),
            config(2, 8),
            Arc::new(Metrics::new(2)),
        );
        let answers: Vec<_> = (0..5).map(|_| batcher.submit(image(2)).unwrap()).collect();
        batcher.shutdown();
        assert_eq!(count.load(Ordering::SeqCst), 5, "queued images still ran");
        for answer in answers {
            assert!(answer.blocking_recv().unwrap().is_ok());
        }
        assert_eq!(batcher.submit(image(2)).unwrap_err().code, "shutting_down");
    }
}
