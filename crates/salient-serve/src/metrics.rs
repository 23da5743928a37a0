//! The server's Prometheus metrics, exposed at `GET /metrics` in the OpenMetrics text format
//! (which Prometheus scrapes; `prometheus-client`, the Prometheus project's Rust client, writes it).
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `salient_http_requests_total{route,status}` | counter | answered requests |
//! | `salient_http_request_duration_seconds{route}` | histogram | time from the request's arrival to its answer |
//! | `salient_batch_size` | histogram | images per forward pass |
//! | `salient_model_duration_seconds` | histogram | time of one forward pass (a whole batch) |
//! | `salient_queue_depth` | gauge | images decoded and waiting for a model worker |
//! | `salient_requests_in_flight` | gauge | admitted requests not yet answered (≤ `--max-queue`) |
//! | `salient_rejected_total{reason}` | counter | requests refused before the model (`queue_full`, `shutting_down`) |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, linear_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route (`/v1/predict`, `/`, ...) or `unmatched`.
    pub route: String,
    /// The HTTP status code answered.
    pub status: String,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// Labels of the rejection counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub reason: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the server, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: HistogramFamily<RouteLabels>,
    pub batch_size: Histogram,
    pub model_seconds: Histogram,
    pub queue_depth: Gauge,
    pub in_flight: Gauge,
    pub rejected: Family<RejectLabels, Counter>,
}

/// Latency buckets: 2.5 ms to 41 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0025, 2.0, 15))
}

impl Metrics {
    /// Registers every metric; batch-size buckets are `1, 2, ..., max_batch` (at most 256).
    pub fn new(max_batch: usize) -> Self {
        let mut registry = Registry::with_prefix("salient");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, in seconds",
            latency.clone(),
        );
        let buckets = u16::try_from(max_batch.clamp(1, 256)).unwrap_or(256);
        let batch_size = Histogram::new(linear_buckets(1.0, 1.0, buckets));
        registry.register(
            "batch_size",
            "Images per forward pass of the model",
            batch_size.clone(),
        );
        let model_seconds = Histogram::new(exponential_buckets(0.0025, 2.0, 15));
        registry.register(
            "model_duration_seconds",
            "Time of one forward pass (a whole batch), in seconds",
            model_seconds.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Decoded images waiting for a model worker",
            queue_depth.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Admitted requests not yet answered",
            in_flight.clone(),
        );
        let rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "rejected",
            "Requests refused before reaching the model, by reason",
            rejected.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            batch_size,
            model_seconds,
            queue_depth,
            in_flight,
            rejected,
        }
    }

    /// Records one answered request.
    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Counts one request refused for `reason`.
    pub fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&RejectLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_histograms_and_gauges() {
        let m = Metrics::new(4);
        m.observe_request("/v1/predict", 200, 0.02);
        m.observe_request("/v1/predict", 200, 0.03);
        m.observe_request("/v1/predict", 415, 0.001);
        m.batch_size.observe(3.0);
        m.queue_depth.set(2);
        let text = m.encode();
        assert!(
            text.contains(r#"salient_http_requests_total{route="/v1/predict",status="200"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"status="415"} 1"#), "{text}");
        assert!(
            text.contains(r#"salient_http_request_duration_seconds_count{route="/v1/predict"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"salient_batch_size_bucket{le="3.0"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"salient_batch_size_bucket{le="2.0"} 0"#),
            "{text}"
        );
        assert!(text.contains("salient_queue_depth 2"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
