//! `OrderQueue` on SQS.

use async_trait::async_trait;

use crate::ports::{OrderPlaced, OrderQueue, QueueError};

#[derive(Clone, Debug)]
pub struct SqsOrderQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsOrderQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl OrderQueue for SqsOrderQueue {
    async fn order_placed(&self, message: &OrderPlaced) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.into()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string().into()))?;
        Ok(())
    }
}
