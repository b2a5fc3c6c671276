//! The queues on SQS: one JSON message per send. The order queue carries paid orders to the order worker, the
//! payment queue carries payment work to the payment worker.

use async_trait::async_trait;

use crate::adapters::aws::LazyClient;
use crate::domain::OrderRef;
use crate::ports::{OrderQueue, PaymentMessage, PaymentQueue, QueueError};

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: LazyClient<aws_sdk_sqs::Client>,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: impl Into<LazyClient<aws_sdk_sqs::Client>>, queue_url: impl Into<String>) -> Self {
        Self { client: client.into(), queue_url: queue_url.into() }
    }

    async fn send_json(&self, message: &impl serde::Serialize) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.into()))?;
        self.client
            .get()
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string().into()))?;
        Ok(())
    }
}

#[async_trait]
impl OrderQueue for SqsQueue {
    async fn order_paid(&self, order: &OrderRef) -> Result<(), QueueError> {
        self.send_json(order).await
    }
}

#[async_trait]
impl PaymentQueue for SqsQueue {
    async fn send(&self, message: &PaymentMessage) -> Result<(), QueueError> {
        self.send_json(message).await
    }
}
