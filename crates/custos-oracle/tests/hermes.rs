//! HermesOracle and CachedOracle against a local HTTP server on 127.0.0.1 that speaks Hermes'
//! documented `/v2/updates/price/latest` JSON. The server is a stand-in for the remote Hermes
//! service, which this machine cannot reach; its answers follow Pyth's API reference
//! (`binary` + `parsed[]` with `price`/`ema_price` as `{price, conf, expo, publish_time}` and
//! `metadata`), and a 404 for unknown ids as Hermes does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use custos_core::{Clock, ManualClock, OracleError, PriceOracle};
use custos_oracle::{build, CachedOracle, HermesOracle, OracleConfig, OracleSource, StaticOracle};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SOL_FEED: &str = "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d";
const ETH_FEED: &str = "ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace";
const BROKEN_FEED: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const GARBAGE_FEED: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const PUBLISH: i64 = 1_717_632_000;

#[derive(Default)]
struct Hermes {
    hits: AtomicUsize,
    /// feed id → (price, expo, publish_time)
    prices: Mutex<HashMap<String, (String, i32, i64)>>,
}

async fn latest(State(h): State<Arc<Hermes>>, RawQuery(q): RawQuery) -> Response {
    h.hits.fetch_add(1, Ordering::SeqCst);
    let q = q.unwrap_or_default();
    let ids: Vec<String> = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "ids[]" || *k == "ids%5B%5D")
        .map(|(_, v)| v.trim_start_matches("0x").to_ascii_lowercase())
        .collect();
    if ids.is_empty() {
        return (StatusCode::BAD_REQUEST, "ids[] is required").into_response();
    }
    if ids.iter().any(|i| i == GARBAGE_FEED) {
        return (StatusCode::OK, "<html>not json</html>").into_response();
    }
    let prices = h.prices.lock().unwrap();
    let mut parsed = Vec::new();
    for id in &ids {
        if id == BROKEN_FEED {
            parsed.push(json!({"id": id, "price": {"price": "12.5", "conf": "1", "expo": -8, "publish_time": PUBLISH}}));
            continue;
        }
        let Some((price, expo, t)) = prices.get(id) else {
            return (StatusCode::NOT_FOUND, format!("Price ids not found: {id}")).into_response();
        };
        let p = json!({"price": price, "conf": "509500001", "expo": expo, "publish_time": t});
        parsed.push(json!({
            "id": id,
            "price": p,
            "ema_price": p,
            "metadata": {"slot": 85480034, "proof_available_time": t, "prev_publish_time": t - 1}
        }));
    }
    axum::Json(json!({
        "binary": {"encoding": "hex", "data": ["504e4155"]},
        "parsed": parsed
    }))
    .into_response()
}

async fn start() -> (String, Arc<Hermes>) {
    let h = Arc::new(Hermes::default());
    h.prices
        .lock()
        .unwrap()
        .insert(SOL_FEED.into(), ("15023456789".into(), -8, PUBLISH));
    h.prices
        .lock()
        .unwrap()
        .insert(ETH_FEED.into(), ("184136023127".into(), -8, PUBLISH - 600));
    let app = Router::new()
        .route("/v2/updates/price/latest", get(latest))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), h)
}

fn feeds() -> BTreeMap<String, String> {
    [
        ("SOL", format!("0x{SOL_FEED}")),
        ("ETH", ETH_FEED.to_owned()),
        ("BROKEN", BROKEN_FEED.to_owned()),
        ("GARBAGE", GARBAGE_FEED.to_owned()),
        ("UNKNOWN", "3".repeat(64)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn oracle(url: &str, clock: Arc<ManualClock>) -> HermesOracle {
    HermesOracle::new(
        url,
        feeds(),
        Duration::from_secs(60),
        Duration::from_secs(5),
        clock,
    )
    .unwrap()
}

#[tokio::test]
async fn parses_and_scales_a_fresh_price() {
    let (url, h) = start().await;
    let clock = Arc::new(ManualClock::new(PUBLISH * 1000 + 5_000));
    let p = oracle(&url, clock).price("SOL").await.unwrap();
    assert_eq!(p.usd.to_string(), "150.23456789");
    assert_eq!(p.publish_time_ms, PUBLISH * 1000);
    assert_eq!(p.source, "pyth-hermes");
    assert_eq!(h.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_stale_price_is_an_error_not_a_value() {
    let (url, _h) = start().await;
    // ETH was published 600 s before PUBLISH; max age is 60 s.
    let clock = Arc::new(ManualClock::new(PUBLISH * 1000));
    match oracle(&url, clock.clone()).price("ETH").await {
        Err(OracleError::Stale {
            asset,
            age_ms,
            max_age_ms,
        }) => {
            assert_eq!(asset, "ETH");
            assert_eq!(age_ms, 600_000);
            assert_eq!(max_age_ms, 60_000);
        }
        other => panic!("{other:?}"),
    }
    // At exactly the maximum age it is still usable; one millisecond later it is not.
    clock.set_ms(PUBLISH * 1000 + 60_000);
    assert!(oracle(&url, clock.clone()).price("SOL").await.is_ok());
    clock.set_ms(PUBLISH * 1000 + 60_001);
    assert!(matches!(
        oracle(&url, clock).price("SOL").await,
        Err(OracleError::Stale { .. })
    ));
}

#[tokio::test]
async fn missing_and_malformed_answers_are_errors() {
    let (url, h) = start().await;
    let clock = Arc::new(ManualClock::new(PUBLISH * 1000));
    let o = oracle(&url, clock);
    // No feed configured: no request at all.
    assert_eq!(
        o.price("DOGE").await,
        Err(OracleError::Missing("DOGE".into()))
    );
    assert_eq!(h.hits.load(Ordering::SeqCst), 0);
    // Feed configured but unknown to Hermes (404).
    assert_eq!(
        o.price("UNKNOWN").await,
        Err(OracleError::Missing("UNKNOWN".into()))
    );
    assert!(matches!(
        o.price("BROKEN").await,
        Err(OracleError::Malformed(_))
    ));
    assert!(matches!(
        o.price("GARBAGE").await,
        Err(OracleError::Malformed(_))
    ));
    assert_eq!(h.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_unreachable_hermes_is_unavailable() {
    // Bind then drop a listener to get a local port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clock = Arc::new(ManualClock::new(PUBLISH * 1000));
    let o = oracle(&format!("http://127.0.0.1:{port}"), clock);
    assert!(matches!(
        o.price("SOL").await,
        Err(OracleError::Unavailable(_))
    ));
}

#[tokio::test]
async fn the_cache_serves_within_ttl_and_refetches_after() {
    let (url, h) = start().await;
    let clock = Arc::new(ManualClock::new(PUBLISH * 1000));
    let cached = CachedOracle::new(
        oracle(&url, clock.clone()),
        Duration::from_secs(10),
        Duration::from_secs(60),
        clock.clone(),
    );
    for _ in 0..5 {
        assert_eq!(
            cached.price("SOL").await.unwrap().usd.to_string(),
            "150.23456789"
        );
    }
    assert_eq!(h.hits.load(Ordering::SeqCst), 1);

    // A new price is published; the cache still serves the old one until its TTL ends.
    h.prices
        .lock()
        .unwrap()
        .insert(SOL_FEED.into(), ("16000000000".into(), -8, PUBLISH + 9));
    clock.advance_ms(9_999);
    assert_eq!(
        cached.price("SOL").await.unwrap().usd.to_string(),
        "150.23456789"
    );
    assert_eq!(h.hits.load(Ordering::SeqCst), 1);
    clock.advance_ms(1);
    assert_eq!(cached.price("SOL").await.unwrap().usd.to_string(), "160");
    assert_eq!(h.hits.load(Ordering::SeqCst), 2);

    // Errors are not cached.
    assert!(cached.price("UNKNOWN").await.is_err());
    assert!(cached.price("UNKNOWN").await.is_err());
    assert_eq!(h.hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_cached_price_that_ages_past_max_age_is_not_served() {
    let (url, h) = start().await;
    let clock = Arc::new(ManualClock::new(PUBLISH * 1000));
    // TTL longer than the maximum age: the age check must still win.
    let cached = CachedOracle::new(
        oracle(&url, clock.clone()),
        Duration::from_secs(600),
        Duration::from_secs(60),
        clock.clone(),
    );
    assert!(cached.price("SOL").await.is_ok());
    clock.advance_ms(61_000);
    assert!(matches!(
        cached.price("SOL").await,
        Err(OracleError::Stale { .. })
    ));
    assert_eq!(h.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn static_table_and_config() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(42));
    let s = StaticOracle::with_default_table(clock.clone());
    assert_eq!(s.price("SOL").await.unwrap().usd.to_string(), "150");
    assert_eq!(s.price("USDC").await.unwrap().usd.to_string(), "1");
    assert_eq!(s.price("ETH").await.unwrap().usd.to_string(), "3000");
    assert_eq!(s.price("SOL").await.unwrap().source, "static");
    assert_eq!(
        s.price("BONK").await,
        Err(OracleError::Missing("BONK".into()))
    );

    let from_default = build(&OracleConfig::default(), clock.clone()).unwrap();
    assert_eq!(
        from_default.price("ETH").await.unwrap().usd.to_string(),
        "3000"
    );

    let cfg: OracleConfig = serde_json::from_value(json!({
        "source": "static", "static_prices": {"SOL": "99.5", "JUP": "0.8"}
    }))
    .unwrap();
    let o = build(&cfg, clock.clone()).unwrap();
    assert_eq!(o.price("JUP").await.unwrap().usd.to_string(), "0.8");
    // A configured table is laid over the defaults: SOL is replaced, the others stay priced.
    assert_eq!(o.price("SOL").await.unwrap().usd.to_string(), "99.5");
    assert_eq!(o.price("USDC").await.unwrap().usd.to_string(), "1");
    assert_eq!(o.price("ETH").await.unwrap().usd.to_string(), "3000");
    assert!(o.price("BONK").await.is_err());
    assert_eq!(
        cfg.describe(),
        "static table (development only), 4 assets: ETH = 3000, JUP = 0.8, SOL = 99.5, USDC = 1"
    );
    // The same from a file's TOML section, which replaces the field as a whole when read.
    let from_file: OracleConfig = toml::from_str("[static_prices]\nUSDC = \"1.01\"\n").unwrap();
    let o = build(&from_file, clock.clone()).unwrap();
    assert_eq!(o.price("USDC").await.unwrap().usd.to_string(), "1.01");
    assert_eq!(o.price("ETH").await.unwrap().usd.to_string(), "3000");

    for (v, key) in [
        (json!({"static_prices": {"SOL": "0"}}), "static_prices"),
        (
            json!({"source": "pyth_hermes", "feeds": {"SOL": SOL_FEED}}),
            "hermes_url",
        ),
        (
            json!({"source": "pyth_hermes", "hermes_url": "http://127.0.0.1:1"}),
            "feeds",
        ),
        (
            json!({"source": "pyth_hermes", "hermes_url": "http://127.0.0.1:1", "feeds": {"SOL": "0x12"}}),
            "feeds",
        ),
        (json!({"max_age_secs": 0}), "max_age_secs"),
    ] {
        let cfg: OracleConfig = serde_json::from_value(v.clone()).unwrap();
        let e = build(&cfg, clock.clone()).map(|_| ()).unwrap_err();
        assert_eq!(e.key, key, "{v}");
    }
    assert!(serde_json::from_value::<OracleConfig>(json!({"bogus": 1})).is_err());
}

#[tokio::test]
async fn config_builds_a_cached_hermes() {
    let (url, h) = start().await;
    let clock = Arc::new(ManualClock::new(PUBLISH * 1000));
    let cfg = OracleConfig {
        source: OracleSource::PythHermes,
        hermes_url: Some(url),
        feeds: [("SOL".to_owned(), SOL_FEED.to_owned())]
            .into_iter()
            .collect(),
        ..OracleConfig::default()
    };
    let o = build(&cfg, clock).unwrap();
    assert_eq!(
        o.price("SOL").await.unwrap().usd.to_string(),
        "150.23456789"
    );
    assert_eq!(
        o.price("SOL").await.unwrap().usd.to_string(),
        "150.23456789"
    );
    assert_eq!(h.hits.load(Ordering::SeqCst), 1);
}
