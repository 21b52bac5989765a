//! Issued access tokens: opaque random strings remembered with their tenant,
//! resource and expiry, and the bearer check every API call goes through.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::errors::Api;

/// What a token was issued for.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    /// Tenant id.
    pub(crate) tenant: String,
    /// Resource (audience) from the requested scope, without `/.default`.
    pub(crate) resource: String,
    /// When the token stops working.
    pub(crate) expires: DateTime<Utc>,
}

/// Why a bearer check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token this simulator never issued.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Issued for another resource.
    WrongAudience,
}

/// All tokens issued so far.
#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, Grant>>,
    /// Tokens taken back by [`TokenStore::revoke_all`].
    revoked: Mutex<Vec<String>>,
    random: RandomState,
}

impl TokenStore {
    /// Issues a new opaque token.
    pub(crate) fn issue(&self, grant: Grant) -> String {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let mut bytes = Vec::with_capacity(32);
        for part in 0..4u64 {
            let salt = (tokens.len() as u64) << 8 | part;
            bytes.extend_from_slice(
                &self
                    .random
                    .hash_one((salt, Utc::now().timestamp_nanos_opt()))
                    .to_le_bytes(),
            );
        }
        let token = format!("sim.{}", URL_SAFE_NO_PAD.encode(bytes));
        tokens.insert(token.clone(), grant);
        token
    }

    /// What `token` was issued for, if this simulator issued it.
    pub(crate) fn grant(&self, token: &str) -> Option<Grant> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    /// Every token issued so far (tests check that none reaches a log).
    pub(crate) fn issued(&self) -> Vec<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Makes every token issued to an app (not those of the managed
    /// identity) unknown, as if revoked: the next call with one is
    /// answered 401.
    pub(crate) fn revoke_app_tokens(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|token, grant| {
            let keep = grant.tenant == crate::routes::msi::TENANT;
            if !keep {
                revoked.push(token.clone());
            }
            keep
        });
    }

    /// Every token ever issued, revoked ones included.
    pub(crate) fn ever_issued(&self) -> Vec<String> {
        let mut all = self.issued();
        all.extend(
            self.revoked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        all
    }

    /// Checks the request's bearer token for `api`. `own_resources` are the
    /// simulator's own base URLs, accepted as a resource for every API.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        api: Api,
        own_resources: &[String],
        now: DateTime<Utc>,
    ) -> Result<Grant, Denied> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Denied::Missing)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(Denied::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Denied::Missing);
        }
        let grant = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token.trim())
            .cloned();
        let grant = grant.ok_or(Denied::Unknown)?;
        if grant.expires <= now {
            return Err(Denied::Expired);
        }
        let resource = grant.resource.trim_end_matches('/');
        if resource != api.resource()
            && !own_resources
                .iter()
                .any(|own| own.trim_end_matches('/') == resource)
        {
            return Err(Denied::WrongAudience);
        }
        Ok(grant)
    }
}
