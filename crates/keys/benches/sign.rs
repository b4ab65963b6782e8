//! ES256 and RS256 signing and verification of a typical access token, on one core.
//! Run: cargo bench -p latchkey-keys --bench sign
//! Figures are for people to read; nothing checks them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use latchkey_keys::{Expectations, KeyMaterial, KeyRing, LoadedKey, SigningAlgorithm};
use serde::Serialize;

/// The claims of an RFC 9068 access token as the token endpoint will issue them.
#[derive(Serialize)]
struct AccessToken<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
}

fn rate(label: &str, budget: Duration, mut op: impl FnMut()) {
    // Warm up, then count operations for the budget.
    for _ in 0..200 {
        op();
    }
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < budget {
        for _ in 0..100 {
            op();
        }
        count += 100;
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    println!(
        "{label:<28} {per_second:>10.0} /s   {:>7.2} µs each",
        1e6 / per_second
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc::now();
    let keys = SigningAlgorithm::ALL
        .into_iter()
        .map(|alg| LoadedKey::new(&KeyMaterial::generate(alg)?, now, true))
        .collect::<Result<Vec<_>, _>>()?;
    let ring = KeyRing::new(keys)?;
    let claims = AccessToken {
        iss: "https://id.example.com",
        sub: "018f5c6e-3b2a-7c4d-9e8f-0a1b2c3d4e5f",
        aud: "https://api.example.com",
        client_id: "zendesk-prod-7f3a9c",
        scope: "openid profile email",
        iat: now.timestamp(),
        exp: (now + TimeDelta::minutes(10)).timestamp(),
        jti: "b1f0c7d2e5a84f3e9c6d2a1b0e9f8d7c",
    };
    let expect = Expectations {
        token_type: "at+jwt",
        audience: latchkey_keys::Audience::Is("https://api.example.com"),
        issuer: "https://id.example.com",
    };
    let budget = Duration::from_secs(3);
    for alg in SigningAlgorithm::ALL {
        let token = ring.sign(alg, "at+jwt", &claims, now)?;
        println!("{alg} token: {} bytes", token.len());
        rate(&format!("{alg} sign"), budget, || {
            black_box(ring.sign(alg, "at+jwt", black_box(&claims), now).ok());
        });
        rate(&format!("{alg} verify"), budget, || {
            black_box(
                ring.verify::<serde_json::Value>(black_box(&token), &expect, now)
                    .ok(),
            );
        });
    }
    Ok(())
}
