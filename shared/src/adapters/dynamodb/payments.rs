//! `PaymentStore` on DynamoDB: provider events seen (expiring), each artisan's payout account, and the payouts
//! ledger in the artisan's partition, with the accrued payouts in the sharded index of owed work.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::items::*;
use super::keys::*;
use super::write::{CONDITION_FAILED, Outcome, TRANSACTION_CONFLICT, update};
use super::{DynamoStore, store_error};
use crate::adapters::retention::EVENT_MEMORY;
use crate::domain::{OrderId, Payout, PayoutAccount, PayoutStatus, ProviderRef, UserId};
use crate::ports::{Page, PageRequest, ParkError, PaymentStore, StoreError, TransitionError};

#[async_trait]
impl PaymentStore for DynamoStore {
    async fn event_seen(&self, event_id: &ProviderRef) -> Result<bool, StoreError> {
        Ok(self.read(event_key(event_id.as_str())).await?.is_some())
    }

    async fn remember_event(&self, event_id: &ProviderRef, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut item = event_key(event_id.as_str());
        item.insert("entity".into(), s("payment_event"));
        item.insert("received_at".into(), timestamp(now));
        item.insert(TTL.into(), n((now + EVENT_MEMORY).unix_timestamp()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(store_error)?;
        Ok(())
    }

    async fn payout_account(&self, artisan: &UserId) -> Result<Option<PayoutAccount>, StoreError> {
        self.read(payout_account_key(artisan)).await?.as_ref().map(payout_account_from_item).transpose()
    }

    async fn connect_payout_account(&self, artisan: &UserId, account: &PayoutAccount) -> Result<(), StoreError> {
        let item = payout_account_item(artisan, account);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(store_error)?;
        Ok(())
    }

    async fn get_payout(&self, artisan: &UserId, order: &OrderId) -> Result<Option<Payout>, StoreError> {
        self.read(payout_key(artisan, order)).await?.as_ref().map(payout_from_item).transpose()
    }

    async fn list_payouts(
        &self,
        artisan: &UserId,
        status: Option<PayoutStatus>,
        page: &PageRequest,
    ) -> Result<Page<Payout>, StoreError> {
        let pk = artisan_pk(artisan);
        let want = page.limit + 1;
        let mut start_key = page.after.as_ref().map(|after| {
            std::collections::HashMap::from([
                (PK.to_owned(), s(&pk)),
                (SK.to_owned(), s(format!("{PAYOUT_PREFIX}{after}"))),
            ])
        });
        let mut payouts = Vec::new();
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(PAYOUT_PREFIX))
                .scan_index_forward(false)
                .limit(if status.is_some() { 100 } else { want.clamp(1, 1000) as i32 })
                .set_exclusive_start_key(start_key.take());
            if let Some(status) = status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
            }
            let output = query.send().await.map_err(store_error)?;
            payouts.extend(readable(output.items(), payout_from_item));
            match output.last_evaluated_key {
                Some(key) if payouts.len() < want => start_key = Some(key),
                _ => break,
            }
        }
        let more = payouts.len() > page.limit;
        payouts.truncate(page.limit);
        let next = if more { payouts.last().map(|p| p.order_id.to_string()) } else { None };
        Ok(Page { items: payouts, next })
    }

    async fn save_payout(&self, current: &Payout, next: &Payout) -> Result<(), TransitionError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(payout_item(next)))
            .condition_expression("#status = :current")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":current", s(current.status.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(TransitionError::Stale)
            }
            Err(error) => Err(store_error(error).into()),
        }
    }

    async fn park_payout(&self, payout: &Payout) -> Result<(), ParkError> {
        let no_account = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(payout_account_key(&payout.artisan_id)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(StoreError::unexpected)?;
        let parked = update(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(payout_key(&payout.artisan_id, &payout.order_id)))
                .update_expression("REMOVE #open_pk, #open_sk")
                .condition_expression("#status = :accrued")
                .expression_attribute_names("#open_pk", SHARDED_INDEX_PK)
                .expression_attribute_names("#open_sk", SHARDED_INDEX_SK)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":accrued", s(PayoutStatus::Accrued.as_str())),
        )?;
        let items = vec![TransactWriteItem::builder().condition_check(no_account).build(), parked];
        match self.transact(items, payout.updated_at).await? {
            Outcome::Written => Ok(()),
            outcome if outcome.failed(0) => Err(ParkError::AccountConnected),
            // Transferred meanwhile: nothing to park.
            outcome if outcome.failed(1) => Ok(()),
            outcome if outcome.any(TRANSACTION_CONFLICT) || outcome.any(CONDITION_FAILED) => {
                Err(StoreError::Conflict("payout changed while parking".into()).into())
            }
            Outcome::Cancelled(codes) => Err(StoreError::Conflict(codes.join(",")).into()),
        }
    }

    async fn payouts_due(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<(UserId, OrderId)>, StoreError> {
        let items = self.open_items(PAYOUT_KIND, before, limit).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let artisan = item.get("artisan_id").and_then(|v| v.as_s().ok()).and_then(|v| UserId::parse(v))?;
                let order = item.get("order_id").and_then(|v| v.as_s().ok()).and_then(|v| OrderId::parse(v))?;
                Some((artisan, order))
            })
            .collect())
    }
}
