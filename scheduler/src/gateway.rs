//! The carrier location gateway (运营商基站定位): locates a phone that cannot receive commands
//! over HTTP (Traccar Client) through the operator's network. A located answer becomes a stored
//! fix with source `cell` and its accuracy (a 1,500 m cell fix near a border is uncertain, never
//! a breach by itself); a failed answer is the request's failure with its reason.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::config::GatewayConfig;

/// What the gateway answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    At {
        lat: f64,
        lon: f64,
        crs: String,
        accuracy_m: f64,
        located_at: DateTime<Utc>,
    },
    /// `phone_off`, `no_coverage`, or `gateway_error` when it could not be asked.
    Failed {
        reason: String,
        detail: String,
    },
}

pub trait CarrierGateway: Send + Sync {
    /// Locates device `device_id` for request `request_id`. The gateway knows the phone by its
    /// device id, never by its enrolment id: that is the phone's credential for posting fixes.
    fn locate<'a>(
        &'a self,
        request_id: i64,
        device_id: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Located> + Send + 'a>>;
}

/// The HTTP interface `cctrack-sim --gateway` serves: `POST {url}/v1/locate`
/// `{"request_id", "device"}` → `{"status": "located", "lat", "lon", "crs", "accuracy_m",
/// "located_at"}` or `{"status": "failed", "reason"}`.
pub struct HttpGateway {
    client: reqwest::Client,
    config: GatewayConfig,
}

impl HttpGateway {
    pub fn new(config: GatewayConfig) -> Self {
        let client =
            reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().expect("HTTP client");
        HttpGateway { client, config }
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    lat: Option<f64>,
    lon: Option<f64>,
    crs: Option<String>,
    accuracy_m: Option<f64>,
    located_at: Option<DateTime<Utc>>,
    reason: Option<String>,
}

impl CarrierGateway for HttpGateway {
    fn locate<'a>(
        &'a self,
        request_id: i64,
        device_id: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Located> + Send + 'a>> {
        Box::pin(async move {
            let url = format!("{}/v1/locate", self.config.url.trim_end_matches('/'));
            let mut r = self
                .client
                .post(url)
                .json(&serde_json::json!({"request_id": request_id.to_string(), "device": device_id.to_string()}));
            if let Some(t) = &self.config.token {
                r = r.bearer_auth(t);
            }
            let error = |detail: String| Located::Failed { reason: "gateway_error".into(), detail };
            let reply = match r.send().await {
                Ok(reply) => reply,
                Err(e) => return error(format!("gateway unreachable: {e}")),
            };
            let status = reply.status();
            let answer: Answer = match reply.json().await {
                Ok(a) => a,
                Err(e) => return error(format!("gateway answered {status} without a readable body: {e}")),
            };
            match (answer.status.as_str(), answer.lat, answer.lon, answer.accuracy_m, answer.located_at) {
                ("located", Some(lat), Some(lon), Some(accuracy_m), Some(located_at)) => {
                    Located::At { lat, lon, crs: answer.crs.unwrap_or_else(|| "wgs84".into()), accuracy_m, located_at }
                }
                ("failed", ..) => {
                    let reason = answer.reason.unwrap_or_default();
                    let reason = if matches!(reason.as_str(), "phone_off" | "no_coverage") {
                        reason
                    } else {
                        "gateway_error".into()
                    };
                    Located::Failed { detail: format!("gateway: {reason}"), reason }
                }
                _ => error(format!("gateway answered {status} with status {:?}", answer.status)),
            }
        })
    }
}

/// A gateway that becomes known only later (the demo's, which starts with its fleet); until
/// then every request fails with `gateway_error`.
#[derive(Default)]
pub struct LateGateway(OnceLock<Arc<dyn CarrierGateway>>);

impl LateGateway {
    pub fn set(&self, gateway: Arc<dyn CarrierGateway>) {
        let _ = self.0.set(gateway);
    }
}

impl CarrierGateway for LateGateway {
    fn locate<'a>(
        &'a self,
        request_id: i64,
        device_id: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Located> + Send + 'a>> {
        match self.0.get() {
            Some(g) => g.locate(request_id, device_id),
            None => Box::pin(async {
                Located::Failed {
                    reason: "gateway_error".into(),
                    detail: "the carrier gateway has not started yet".into(),
                }
            }),
        }
    }
}
