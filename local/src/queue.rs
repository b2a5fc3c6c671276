//! An in-process queue with SQS semantics, standing in for SQS + the Lambda event source mapping: messages stay
//! invisible for a visibility timeout after each receive, a receive count is kept, messages received more than
//! `max_receive_count` times move to a dead-letter list, and batches go to the same worker handler as in AWS,
//! as `SqsEvent`s, with partial batch failures honoured.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use storefront::domain::OrderRef;
use storefront::ports::{OrderQueue, PaymentMessage, PaymentQueue, QueueError};
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    pub visibility_timeout: Duration,
    /// As the redrive policy's `maxReceiveCount`.
    pub max_receive_count: u32,
    pub batch_size: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: storefront::worker::MAX_RECEIVE_COUNT,
            batch_size: 10,
        }
    }
}

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    receive_count: u32,
    visible_at: Instant,
}

#[derive(Default)]
struct State {
    next_id: u64,
    messages: VecDeque<Message>,
    dead_letters: Vec<Message>,
}

pub struct LocalQueue {
    name: String,
    settings: QueueSettings,
    state: Mutex<State>,
    arrived: Notify,
    /// Fault injection: refuse this many sends, as an unreachable SQS would.
    refuse_sends: AtomicU32,
    /// Sends refused so far (for assertions that the fault fired).
    refused: AtomicU32,
}

impl LocalQueue {
    pub fn new(name: &str, settings: QueueSettings) -> Self {
        Self {
            name: name.to_owned(),
            settings,
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
            refuse_sends: AtomicU32::new(0),
            refused: AtomicU32::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn send(&self, body: String) -> Result<String, QueueError> {
        let refused = self.refuse_sends.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if refused {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(QueueError("the local queue refused the send (injected fault)".into()));
        }
        let mut state = self.state();
        state.next_id += 1;
        let id = format!("{}-{:08}", self.name, state.next_id);
        state.messages.push_back(Message { id: id.clone(), body, receive_count: 0, visible_at: Instant::now() });
        drop(state);
        self.arrived.notify_one();
        Ok(id)
    }

    /// Makes the next `count` sends fail.
    pub fn refuse_next_sends(&self, count: u32) {
        self.refuse_sends.store(count, Ordering::SeqCst);
    }

    /// How many sends were refused by [`LocalQueue::refuse_next_sends`].
    pub fn refused(&self) -> u32 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Bodies of the messages moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<String> {
        self.state().dead_letters.iter().map(|m| m.body.clone()).collect()
    }

    /// Bodies of the messages not yet deleted (visible or in flight), oldest first.
    pub fn pending(&self) -> Vec<String> {
        self.state().messages.iter().map(|m| m.body.clone()).collect()
    }

    /// Messages not yet deleted (visible or in flight).
    pub fn depth(&self) -> usize {
        self.state().messages.len()
    }

    /// Receives up to a batch of visible messages, hiding them for the visibility timeout.
    fn receive(&self) -> Vec<Message> {
        let now = Instant::now();
        let mut state = self.state();
        let State { messages, dead_letters, .. } = &mut *state;
        // Redrive: a visible message already received max_receive_count times goes to the dead-letter list.
        messages.retain(|m| {
            let dead = m.visible_at <= now && m.receive_count >= self.settings.max_receive_count;
            if dead {
                dead_letters.push(m.clone());
            }
            !dead
        });
        let mut batch = Vec::new();
        for message in messages.iter_mut().filter(|m| m.visible_at <= now).take(self.settings.batch_size) {
            message.receive_count += 1;
            message.visible_at = now + self.settings.visibility_timeout;
            batch.push(message.clone());
        }
        batch
    }

    fn delete(&self, ids: &[String]) {
        self.state().messages.retain(|m| !ids.contains(&m.id));
    }

    fn event(&self, batch: &[Message]) -> SqsEvent {
        let mut event = SqsEvent::default();
        for message in batch {
            let mut record = SqsMessage::default();
            record.message_id = Some(message.id.clone());
            record.receipt_handle = Some(format!("{}#{}", message.id, message.receive_count));
            record.body = Some(message.body.clone());
            record.attributes.insert("ApproximateReceiveCount".into(), message.receive_count.to_string());
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(format!("arn:aws:sqs:us-east-1:000000000000:{}", self.name));
            record.aws_region = Some("us-east-1".into());
            event.records.push(record);
        }
        event
    }

    /// Polls and hands batches to `worker` until the task is aborted, deleting what succeeded.
    pub async fn consume<F, Fut>(&self, worker: F)
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        loop {
            let batch = self.receive();
            if batch.is_empty() {
                // Woken by a send, or re-check for messages whose visibility timeout ran out.
                let _ = tokio::time::timeout(Duration::from_millis(100), self.arrived.notified()).await;
                continue;
            }
            let response = worker(self.event(&batch)).await;
            let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
            let done: Vec<String> =
                batch.iter().filter(|m| !failed.contains(&m.id.as_str())).map(|m| m.id.clone()).collect();
            self.delete(&done);
        }
    }
}

#[async_trait]
impl OrderQueue for LocalQueue {
    async fn order_paid(&self, order: &OrderRef) -> Result<(), QueueError> {
        let body = serde_json::to_string(order).map_err(|e| QueueError(e.into()))?;
        self.send(body).map(|_| ())
    }
}

#[async_trait]
impl PaymentQueue for LocalQueue {
    async fn send(&self, message: &PaymentMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.into()))?;
        LocalQueue::send(self, body).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::sqs::BatchItemFailure;

    use super::*;

    fn quick() -> QueueSettings {
        QueueSettings { visibility_timeout: Duration::from_millis(20), max_receive_count: 3, batch_size: 10 }
    }

    #[tokio::test]
    async fn a_failing_message_is_retried_then_dead_lettered_while_the_rest_are_deleted() {
        let queue = std::sync::Arc::new(LocalQueue::new("orders", quick()));
        queue.send("good".into()).expect("sent");
        queue.send("poison".into()).expect("sent");
        let seen = std::sync::Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let consumer = {
            let (queue, seen) = (queue.clone(), seen.clone());
            tokio::spawn(async move {
                queue
                    .consume(|event: SqsEvent| {
                        let seen = seen.clone();
                        async move {
                            let mut response = SqsBatchResponse::default();
                            for record in event.records {
                                let body = record.body.unwrap_or_default();
                                let count = record.attributes["ApproximateReceiveCount"].clone();
                                seen.lock().expect("lock").push((body.clone(), count));
                                if body == "poison" {
                                    let mut failure = BatchItemFailure::default();
                                    failure.item_identifier = record.message_id.unwrap_or_default();
                                    response.batch_item_failures.push(failure);
                                }
                            }
                            response
                        }
                    })
                    .await
            })
        };
        for _ in 0..100 {
            if !queue.dead_letters().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        consumer.abort();
        assert_eq!(queue.dead_letters(), vec!["poison".to_owned()]);
        assert_eq!(queue.depth(), 0);
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.iter().filter(|(b, _)| b == "good").count(), 1, "the good message ran once");
        let poison: Vec<&str> = seen.iter().filter(|(b, _)| b == "poison").map(|(_, c)| c.as_str()).collect();
        assert_eq!(poison, ["1", "2", "3"]);
    }

    #[test]
    fn refused_sends_fail_then_the_queue_accepts_again() {
        let queue = LocalQueue::new("orders", quick());
        queue.refuse_next_sends(2);
        assert!(queue.send("a".into()).is_err());
        assert!(queue.send("b".into()).is_err());
        assert!(queue.send("c".into()).is_ok());
        assert_eq!(queue.depth(), 1);
    }
}
