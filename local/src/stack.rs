//! The stand-ins of the AWS services and of the payment provider, each on a loopback port of this process:
//! DynamoDB (dynoxide on SQLite, behind a fault-injecting proxy when asked), S3 (s3s-fs, notifying the image queue
//! of uploads as the bucket does), the queues and their SQS wire, the payment provider (Stripe's calls, signed
//! webhooks), and SES and Secrets Manager for function processes. And what a function process is given to reach
//! them (`LambdaSide`): the environment template.yaml would give it, through recording proxies when asked.

use std::path::Path;
use std::sync::Arc;

use storefront::config::Config;
use storefront::worker::Queue;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::faults::Faults;
use crate::iam::Service;
use crate::options::{Options, StandIn, StartError};
use crate::payments::PaymentStandIn;
use crate::queue::LocalQueue;
use crate::s3::S3Engine;
use crate::secrets::PaymentSecrets;
use crate::secrets_manager::SecretsManagerStandIn;
use crate::ses::SesStandIn;
use crate::sqs_wire::SqsWire;

pub const TABLE_NAME: &str = "storefront";
pub const MEDIA_BUCKET: &str = "storefront-media";
pub const ORDER_QUEUE: &str = "storefront-orders";
pub const IMAGE_QUEUE: &str = "storefront-images";
pub const PAYMENT_QUEUE: &str = "storefront-payments";
/// The secret function processes load the payment provider's keys from (through the local Secrets Manager).
pub const PAYMENTS_SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:storefront-payments";
/// The verified sender function processes send confirmations as (through the local SES).
pub const LAMBDA_CONFIRMATION_SENDER: &str = "orders@storefront.test";
/// Access and secret key of the stand-ins (the same dummy pair the local SDK config signs with).
pub const LOCAL_KEY: &str = "local";

pub struct StandIns {
    pub engine: Engine,
    /// Where this server's own adapters reach DynamoDB: the engine, or the fault proxy in front of it.
    pub dynamodb_endpoint: String,
    /// The fault switches, when started with fault injection.
    pub faults: Option<Arc<Faults>>,
    fault_proxy: Option<JoinHandle<()>>,
    pub s3: S3Engine,
    pub orders: Arc<LocalQueue>,
    pub payment_queue: Arc<LocalQueue>,
    pub images: Arc<LocalQueue>,
    pub sqs: SqsWire,
    pub ses: SesStandIn,
    pub payments: PaymentStandIn,
    pub secrets_manager: SecretsManagerStandIn,
}

impl StandIns {
    pub async fn start(
        options: &Options,
        data_dir: &Path,
        payment_secrets: &PaymentSecrets,
    ) -> Result<Self, StartError> {
        let at = |stand_in| options.stand_in_address(stand_in);
        let engine = Engine::start(&data_dir.join("dynamodb.sqlite"), at(StandIn::DynamoDb))
            .await
            .map_err(StartError::Engine)?;
        let (dynamodb_endpoint, faults, fault_proxy) = if options.fault_injection {
            let faults = Arc::new(Faults::default());
            let (endpoint, proxy) = crate::faults::start_proxy(&engine.endpoint, Service::DynamoDb, faults.clone())
                .await
                .map_err(StartError::Engine)?;
            (endpoint, Some(faults), Some(proxy))
        } else {
            (engine.endpoint.clone(), None, None)
        };
        let orders = Arc::new(LocalQueue::new(ORDER_QUEUE, options.queue));
        let payment_queue = Arc::new(LocalQueue::new(PAYMENT_QUEUE, options.queue));
        // Photos: the S3 stand-in notifies the image queue of every upload, as the bucket notification does in AWS.
        let images = Arc::new(LocalQueue::new(IMAGE_QUEUE, options.queue));
        let notify: crate::s3::Notify = {
            let images = images.clone();
            Arc::new(move |event| {
                if let Err(error) = images.send(event) {
                    tracing::warn!(%error, "upload notification lost");
                }
            })
        };
        let s3 = S3Engine::start(&data_dir.join("s3"), at(StandIn::S3), LOCAL_KEY, LOCAL_KEY, notify)
            .await
            .map_err(StartError::Engine)?;
        let sqs = crate::sqs_wire::start(
            vec![
                (ORDER_QUEUE.to_owned(), orders.clone()),
                (PAYMENT_QUEUE.to_owned(), payment_queue.clone()),
                (IMAGE_QUEUE.to_owned(), images.clone()),
            ],
            at(StandIn::Sqs),
        )
        .await?;
        let ses = crate::ses::start(at(StandIn::Ses)).await?;
        let provider_secrets = storefront::adapters::stripe::ProviderSecrets {
            api_key: payment_secrets.api_key.clone(),
            webhook_secret: payment_secrets.webhook_secret.clone(),
        };
        let secret_string = options.served_payment_secret.clone().unwrap_or_else(|| {
            serde_json::json!({
                "api_key": provider_secrets.api_key, "webhook_secret": provider_secrets.webhook_secret,
            })
            .to_string()
        });
        let secrets_manager = crate::secrets_manager::start(
            [(PAYMENTS_SECRET_ARN.to_owned(), secret_string)].into(),
            at(StandIn::SecretsManager),
        )
        .await?;
        let payments = crate::payments::start(provider_secrets, at(StandIn::Payments)).await?;
        Ok(Self {
            engine,
            dynamodb_endpoint,
            faults,
            fault_proxy,
            s3,
            orders,
            payment_queue,
            images,
            sqs,
            ses,
            payments,
            secrets_manager,
        })
    }

    /// The local queue that plays `queue`.
    pub fn queue(&self, queue: Queue) -> &Arc<LocalQueue> {
        match queue {
            Queue::Orders => &self.orders,
            Queue::Payments => &self.payment_queue,
            Queue::Images => &self.images,
        }
    }

    pub async fn stop(self) {
        if let Some(proxy) = self.fault_proxy {
            proxy.abort();
            let _ = proxy.await;
        }
        self.ses.stop().await;
        self.payments.stop().await;
        self.secrets_manager.stop().await;
        self.s3.stop().await;
        self.sqs.stop().await;
        self.engine.stop().await;
    }
}

/// What a function process is given to run against the stand-ins.
pub struct LambdaSide {
    /// What template.yaml gives a function in AWS, pointed at the stand-ins instead.
    pub environment: Vec<(String, String)>,
    /// What the function processes needed from IAM, when recorded.
    pub calls: Arc<Faults>,
    proxies: Vec<JoinHandle<()>>,
}

impl LambdaSide {
    /// Function processes reach every stand-in through a recording proxy of their own when `record` is set, so that
    /// what they call is told apart from this server's own calls; directly otherwise.
    pub async fn start(stand_ins: &StandIns, config: &Config, record: bool) -> Result<Self, StartError> {
        let calls = Arc::new(Faults::default());
        let mut proxies = Vec::new();
        let mut reach = async |upstream: &str, service| {
            if !record {
                return Ok::<_, StartError>(upstream.to_owned());
            }
            let (endpoint, task) =
                crate::faults::start_proxy(upstream, service, calls.clone()).await.map_err(StartError::Engine)?;
            proxies.push(task);
            Ok(endpoint)
        };
        let dynamodb = reach(&stand_ins.engine.endpoint, Service::DynamoDb).await?;
        let s3 = reach(&stand_ins.s3.endpoint, Service::S3).await?;
        let sqs = reach(&stand_ins.sqs.endpoint, Service::Sqs).await?;
        let ses = reach(&stand_ins.ses.endpoint, Service::Ses).await?;
        let secrets_manager = reach(&stand_ins.secrets_manager.endpoint, Service::SecretsManager).await?;
        let store = match &config.store {
            storefront::config::StoreConfig::DynamoDb { table_name } => {
                vec![(storefront::config::TABLE_NAME, table_name.clone())]
            }
            storefront::config::StoreConfig::Postgres(postgres) => {
                let mut variables = vec![
                    (storefront::config::STORE, "postgres".to_owned()),
                    (storefront::config::DATABASE_URL, postgres.url.clone()),
                ];
                if let Some(read_url) = &postgres.read_url {
                    variables.push((storefront::config::DATABASE_READ_URL, read_url.clone()));
                }
                if !postgres.shard_urls.is_empty() {
                    variables.push((storefront::config::SHARD_URLS, postgres.shard_urls.join(",")));
                }
                variables
            }
        };
        let environment = store
            .into_iter()
            .chain([
                (storefront::config::CURSOR_SECRET, String::from_utf8_lossy(&config.cursor_secret).into_owned()),
                (storefront::config::ORDER_QUEUE_URL, format!("{sqs}/000000000000/{ORDER_QUEUE}")),
                (storefront::config::PAYMENT_QUEUE_URL, format!("{sqs}/000000000000/{PAYMENT_QUEUE}")),
                (storefront::config::PAYMENTS_SECRET_ARN, PAYMENTS_SECRET_ARN.to_owned()),
                (storefront::config::PAYMENTS_API_URL, stand_ins.payments.endpoint.clone()),
                (storefront::config::PAYMENT_WINDOW_SECONDS, config.payment_window.whole_seconds().to_string()),
                (storefront::config::STUCK_AFTER_SECONDS, config.stuck_after.whole_seconds().to_string()),
                (storefront::config::CONFIRMATION_SENDER, LAMBDA_CONFIRMATION_SENDER.to_owned()),
                (storefront::config::MEDIA_BUCKET, config.media_bucket.clone()),
                (storefront::config::CDN_BASE_URL, config.cdn_base_url.clone()),
                ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
                ("AWS_ENDPOINT_URL_SQS", sqs),
                (storefront::config::STORAGE_ORIGIN, s3.clone()),
                ("AWS_ENDPOINT_URL_S3", s3),
                ("AWS_ENDPOINT_URL_SESV2", ses),
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_manager),
                (storefront::config::S3_FORCE_PATH_STYLE, "true".to_owned()),
                ("AWS_REGION", "us-east-1".to_owned()),
                ("AWS_ACCESS_KEY_ID", LOCAL_KEY.to_owned()),
                ("AWS_SECRET_ACCESS_KEY", LOCAL_KEY.to_owned()),
            ])
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        Ok(Self { environment, calls, proxies })
    }

    pub async fn stop(self) {
        for proxy in self.proxies {
            proxy.abort();
            let _ = proxy.await;
        }
    }
}
