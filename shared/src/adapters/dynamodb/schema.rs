//! The table definition, for engines that start empty (the local server, tests, moto). In AWS the same table
//! is declared in template.yaml; a test holds the two together.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use super::keys::*;
use super::store_error;
use crate::ports::StoreError;

/// (index, partition key attribute, sort key attribute) of every global secondary index.
pub const INDEXES: &[(&str, &str, &str)] = &[
    (SHARDED_INDEX, SHARDED_INDEX_PK, SHARDED_INDEX_SK),
    (CATEGORY_INDEX, CATEGORY_INDEX_PK, CATEGORY_INDEX_SK),
    (ARTISAN_INDEX, ARTISAN_INDEX_PK, ARTISAN_INDEX_SK),
];

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().map_err(StoreError::unexpected)
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(StoreError::unexpected)
}

/// Creates the table with its indexes and TTL unless it exists. Returns whether it was created.
pub async fn ensure_table(client: &Client, table: &str) -> Result<bool, StoreError> {
    if table_exists(client, table).await? {
        return Ok(false);
    }
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(string_attribute(PK)?)
        .attribute_definitions(string_attribute(SK)?);
    for (index, pk, sk) in INDEXES {
        request = request
            .attribute_definitions(string_attribute(pk)?)
            .attribute_definitions(string_attribute(sk)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(key(pk, KeyType::Hash)?)
                    .key_schema(key(sk, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(StoreError::unexpected)?,
            );
    }
    request.send().await.map_err(store_error)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL)
                .enabled(true)
                .build()
                .map_err(StoreError::unexpected)?,
        )
        .send()
        .await
        .map_err(store_error)?;
    Ok(true)
}

/// Listed rather than described: a missing table is the normal first-start case, not an error worth a log line.
async fn table_exists(client: &Client, table: &str) -> Result<bool, StoreError> {
    let mut start = None;
    loop {
        let page = client.list_tables().set_exclusive_start_table_name(start).send().await.map_err(store_error)?;
        if page.table_names().iter().any(|name| name == table) {
            return Ok(true);
        }
        match page.last_evaluated_table_name {
            Some(last) => start = Some(last),
            None => return Ok(false),
        }
    }
}
