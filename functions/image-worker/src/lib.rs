//! The image worker (SQS ← S3 `ObjectCreated` under `uploads/`): each upload is checked, resized into its
//! variants and attached to its product, or refused with a reason the artisan sees. Idempotent per upload.

use aws_lambda_events::event::sqs::SqsMessage;
use serde::Deserialize;
use storefront::AppState;
use storefront::services::images::{self, UploadOutcome};
use storefront::worker::WorkerError;

storefront::queue_worker!(Images, handle, reaches: BLOBS);

/// The part of an S3 event notification we read.
#[derive(Debug, Deserialize)]
struct S3Notification {
    #[serde(rename = "Records", default)]
    records: Vec<S3Record>,
    /// `s3:TestEvent`, sent once when the notification is configured.
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Debug, Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Object {
    key: String,
}

/// Object keys arrive URL-encoded, with `+` for spaces.
pub fn decode_key(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

pub async fn handle(state: AppState, message: SqsMessage) -> Result<(), WorkerError> {
    let body = message.body.as_deref().ok_or_else(|| WorkerError::Poison("empty message body".into()))?;
    let notification: S3Notification =
        serde_json::from_str(body).map_err(|e| WorkerError::Poison(format!("not an S3 event notification: {e}")))?;
    if notification.event.as_deref() == Some("s3:TestEvent") {
        return Ok(());
    }
    for record in notification.records.iter().filter(|r| r.event_name.starts_with("ObjectCreated")) {
        let key = decode_key(&record.s3.object.key)
            .ok_or_else(|| WorkerError::Poison(format!("undecodable key {}", record.s3.object.key)))?;
        match images::process_upload(&state.image_ports(), &key).await {
            Ok(UploadOutcome::Added(image)) => tracing::info!(%key, thumb = %image.thumb_url, "photo added"),
            Ok(UploadOutcome::Rejected(reason)) => tracing::info!(%key, %reason, "upload refused"),
            Ok(outcome) => tracing::info!(%key, ?outcome, "nothing to do"),
            Err(error) => return Err(WorkerError::Retryable(Box::new(error))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decode_key;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(decode_key("uploads/ana%2Bshop/01H/01J").as_deref(), Some("uploads/ana+shop/01H/01J"));
        assert_eq!(decode_key("a+b").as_deref(), Some("a b"));
        assert_eq!(decode_key("bad%zz"), None);
        assert_eq!(decode_key("cut%2"), None);
    }
}
