//! `ApiError`: every failure a client can see, rendered as RFC 9457 `application/problem+json`.
//! A 5xx never carries internals; its cause chain goes to the log instead.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

use crate::domain::{FieldError, ValidationErrors};
use crate::ports::{StockChangeError, StoreError};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The problem `type` slug of docs/api.md (`validation`, `out-of-stock`, …).
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra members (`products` for stock problems).
    pub extra: Map<String, Value>,
    pub retry_after_seconds: Option<u32>,
    /// The cause of a server-side failure, logged once at the boundary and never sent.
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            extra: Map::new(),
            retry_after_seconds: None,
            source: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body must be at most {limit_bytes} bytes"),
        )
    }

    pub fn validation(errors: ValidationErrors) -> Self {
        let detail = errors.0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self {
            errors: errors.0,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "Validation failed", detail)
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", format!("{what} was not found"))
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", "no such route")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this route does not accept that method",
        )
    }

    pub fn out_of_stock(products: &[String], detail: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::CONFLICT, "out-of-stock", "Out of stock", detail);
        error.extra.insert("products".into(), json!(products));
        error
    }

    pub fn conflict(kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, title, detail)
    }

    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, "precondition-failed", "Precondition failed", detail)
    }

    pub fn unavailable(retry_after_seconds: u32) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "the service is busy; retry shortly",
            )
        }
    }

    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "something went wrong on our side",
            )
        }
    }

    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The problem document, as sent.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(self.kind));
        body.insert("title".into(), json!(self.title));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        if !self.errors.is_empty() {
            body.insert("errors".into(), json!(self.errors));
        }
        body.extend(self.extra.clone());
        Value::Object(body)
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(Body::Text(self.body().to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    /// The cause chain of a server-side failure, for the log line.
    pub fn cause_chain(&self) -> String {
        let mut chain = String::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = self.source.as_deref().map(|e| e as _);
        while let Some(error) = next {
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&error.to_string());
            next = error.source();
        }
        chain
    }
}

fn idempotency_key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "Idempotency key reused",
        "this Idempotency-Key was used with a different request; use a new key",
    )
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::validation(errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::not_found("the resource"),
            StoreError::Conflict(detail) => ApiError::conflict("conflict", "Conflict", detail),
            StoreError::Unavailable(_) => ApiError::unavailable(1).with_source(error),
            StoreError::Unexpected(_) => ApiError::internal(error),
        }
    }
}

impl From<StockChangeError> for ApiError {
    fn from(error: StockChangeError) -> Self {
        match error {
            StockChangeError::Store(store) => store.into(),
            StockChangeError::IdReused => idempotency_key_reused(),
            StockChangeError::OutOfRange => ApiError::conflict(
                "out-of-stock",
                "Out of stock",
                "the change would take the stock below zero or above the maximum",
            ),
        }
    }
}

impl From<crate::services::ServiceError> for ApiError {
    fn from(error: crate::services::ServiceError) -> Self {
        use crate::services::ServiceError;
        match error {
            ServiceError::NotFound(what) => ApiError::not_found(what),
            ServiceError::Validation(errors) => ApiError::validation(errors),
            ServiceError::StaleVersion { expected, current } => ApiError::precondition_failed(format!(
                "If-Match names version {expected}, but the product is at version {current}; fetch it and retry"
            )),
            ServiceError::ProductUnavailable(id) => {
                let mut error = ApiError::conflict(
                    "product-unavailable",
                    "Product unavailable",
                    format!("product {id} is archived and cannot be bought"),
                );
                error.extra.insert("products".into(), json!([id.to_string()]));
                error
            }
            ServiceError::UnknownProducts(ids) => ApiError::validation(ValidationErrors(
                ids.iter().map(|id| FieldError::new("items", format!("product {id} does not exist"))).collect(),
            )),
            ServiceError::ProductsUnavailable(ids) => {
                let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
                let mut error = ApiError::conflict(
                    "product-unavailable",
                    "Product unavailable",
                    format!("not for sale: {}", names.join(", ")),
                );
                error.extra.insert("products".into(), json!(names));
                error
            }
            ServiceError::OutOfStock(ids) => {
                let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
                ApiError::out_of_stock(&names, format!("not enough stock for: {}", names.join(", ")))
            }
            ServiceError::IdempotencyKeyReused => idempotency_key_reused(),
            ServiceError::RequestInProgress => ApiError::conflict(
                "request-in-progress",
                "Request in progress",
                "a request with this Idempotency-Key is still running; retry shortly",
            ),
            ServiceError::TooManyUnpaidOrders => ApiError::conflict(
                "too-many-unpaid-orders",
                "Too many unpaid orders",
                format!(
                    "you have {} orders awaiting payment; pay or cancel one of them before placing another",
                    crate::domain::MAX_UNPAID_ORDERS
                ),
            ),
            ServiceError::InvalidTransition { from, to } => ApiError::conflict(
                "invalid-transition",
                "Invalid status change",
                format!("the order is {from} and cannot become {to}"),
            ),
            ServiceError::Busy => ApiError::unavailable(1),
            ServiceError::Notify(error) => ApiError::unavailable(5).with_source(error),
            ServiceError::Store(store) => store.into(),
            ServiceError::Stock(stock) => stock.into(),
            ServiceError::Payment(error @ crate::ports::PaymentError::Unavailable(_)) => ApiError {
                detail: "the payment provider is unavailable; retry (a checkout with the same Idempotency-Key keeps \
                         its order and reserved stock)"
                    .into(),
                ..ApiError::unavailable(2)
            }
            .with_source(error),
            // The operator is alarmed; the provider (or the client) retries later and finds it configured.
            ServiceError::Payment(error @ crate::ports::PaymentError::Misconfigured(_)) => ApiError {
                detail: "payments are not available right now; retry later".into(),
                ..ApiError::unavailable(60)
            }
            .with_source(error),
            ServiceError::Payment(error @ crate::ports::PaymentError::Refused(_)) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment-provider-error",
                "Payment provider error",
                "the payment provider refused our request; it has been logged",
            )
            .with_source(error),
            ServiceError::PaymentPending => ApiError::unavailable(5),
            ServiceError::BadEvent(error) => ApiError::bad_request(format!("payment event refused: {error}")),
            ServiceError::Queue(error) => ApiError::unavailable(2).with_source(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_problem_lists_its_fields() {
        let error = ApiError::validation(ValidationErrors::single("title", "must be 1 to 120 characters"));
        let body = error.body();
        assert_eq!(body["type"], "validation");
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["field"], "title");
    }

    #[test]
    fn an_internal_error_never_leaks_its_cause() {
        let response = ApiError::internal("table storefront-prod not found in us-east-1").into_response();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let Body::Text(text) = response.body() else { panic!("text body") };
        assert!(!text.contains("storefront-prod"));
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let response = ApiError::unavailable(2).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
