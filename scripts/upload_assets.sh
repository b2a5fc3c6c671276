#!/usr/bin/env bash
# Uploads the web pages' content-hashed assets to the stack's media bucket (assets/), where CloudFront serves them.
# Old assets are kept (pages cached at the edge may still name them); new names never overwrite anything.
# Usage: scripts/upload_assets.sh [stack-name]   (default storefront-dev). Without the stack yet, says so and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-storefront-dev}"
bucket=$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='MediaBucketName'].OutputValue" --output text 2>/dev/null || true)
if [ -z "$bucket" ] || [ "$bucket" = "None" ]; then
  echo "no stack $stack yet: assets are uploaded after it is created"
  exit 0
fi
cargo run -q -p storefront-local --bin export-assets -- target/web-assets > /dev/null
aws s3 sync target/web-assets/ "s3://$bucket/assets/" --cache-control "public, max-age=31536000, immutable"
