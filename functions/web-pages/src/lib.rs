//! The web storefront's pages (the HTTP API's default route: every request no API route takes), rendered by
//! `storefront-web`: public pages from the catalog, per-user pages as shells, the sitemap and robots.txt.

storefront::route!(GET "$default", public, storefront_web::handle);
