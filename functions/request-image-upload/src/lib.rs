//! POST /products/{product_id}/images: a presigned PUT for a new photo (jpeg, png or webp; 5 minutes).

use serde::{Deserialize, Serialize};
use storefront::api::prelude::*;
use storefront::domain::ImageType;
use storefront::services::images;
use time::OffsetDateTime;

storefront::route!(POST "/products/{product_id}/images", artisan, handle, reaches: BLOBS);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestUpload {
    content_type: String,
}

#[derive(Serialize)]
struct UploadTicket {
    upload_id: String,
    upload_url: String,
    method: &'static str,
    /// Send exactly these headers with the PUT (the content type is part of the signature).
    headers: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    let body: RequestUpload = json_body(&req)?;
    let kind = ImageType::parse_field(&body.content_type, "content_type")?;
    let (upload, presigned) = images::request_upload(&state.image_ports(), &caller.user_id, &id, kind).await?;
    let mut headers: serde_json::Map<String, serde_json::Value> =
        presigned.headers.into_iter().map(|(name, value)| (name, value.into())).collect();
    headers.entry("content-type").or_insert_with(|| kind.content_type().into());
    let ticket = UploadTicket {
        upload_id: upload.upload_id.to_string(),
        upload_url: presigned.url,
        method: "PUT",
        headers,
        expires_at: presigned.expires_at,
    };
    json(StatusCode::CREATED, &ticket)
}
