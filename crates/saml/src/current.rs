//! The identity providers in use, each built once (a certificate and two parsed keys cost
//! milliseconds, a response must not): the shared one per key ring and active RSA key, and a
//! team's per signing certificate and set of certificates it publishes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use latchkey_core::{SharedKeyRing, TeamId};
use latchkey_keys::SigningAlgorithm;

use crate::certificates::Certificates;
use crate::{Identity, IdentityProvider, SamlError, ServiceProvider};

/// The most team identity providers kept; past it the cache starts again.
const TEAM_PROVIDERS: usize = 4096;

/// Team identity providers by team and signing certificate, each with the ids of the
/// certificates it publishes (when those change, it is built again).
type TeamProviders = HashMap<(String, String), (String, Arc<IdentityProvider>)>;

/// Every identity provider, built when first needed and again when its keys change.
#[derive(Clone)]
pub struct CurrentIdentityProvider {
    issuer: latchkey_core::Issuer,
    keys: SharedKeyRing,
    certificates: Certificates,
    built: Arc<Mutex<Option<Built>>>,
    teams: Arc<Mutex<TeamProviders>>,
}

struct Built {
    /// Held, so that its address cannot be reused by another ring.
    ring: Arc<latchkey_keys::KeyRing>,
    idp: Arc<IdentityProvider>,
}

impl CurrentIdentityProvider {
    pub fn new(
        issuer: latchkey_core::Issuer,
        keys: SharedKeyRing,
        certificates: Certificates,
    ) -> Self {
        Self {
            issuer,
            keys,
            certificates,
            built: Arc::default(),
            teams: Arc::default(),
        }
    }

    /// The shared identity provider.
    pub fn get(&self, now: DateTime<Utc>) -> Result<Arc<IdentityProvider>, SamlError> {
        let ring = self.keys.load_full();
        let kid = ring
            .active(SigningAlgorithm::Rs256, now)
            .map(|key| key.kid.clone())
            .ok_or_else(|| {
                SamlError::Signing("no RSA key is active: run `latchkey keys rotate`".to_owned())
            })?;
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(current) = built.as_ref()
            && Arc::ptr_eq(&current.ring, &ring)
            && current.idp.signs_with(&kid)
        {
            return Ok(current.idp.clone());
        }
        let idp = Arc::new(IdentityProvider::new(&self.issuer, &ring, now)?);
        *built = Some(Built {
            ring,
            idp: idp.clone(),
        });
        Ok(idp)
    }

    /// The identity provider that answers `sp`: its team's, signing with its certificate, or
    /// the shared one.
    pub async fn for_sp(
        &self,
        sp: &ServiceProvider,
        now: DateTime<Utc>,
    ) -> Result<Arc<IdentityProvider>, SamlError> {
        match &sp.certificate_id {
            None => self.get(now),
            Some(certificate) => self.team(&sp.team_id, Some(certificate)).await,
        }
    }

    /// The identity provider `identity` names, signing with the certificate its new SPs get
    /// (what its metadata and the reading of requests need).
    pub async fn of(
        &self,
        identity: &Identity,
        now: DateTime<Utc>,
    ) -> Result<Arc<IdentityProvider>, SamlError> {
        match identity {
            Identity::Shared => self.get(now),
            Identity::Team(team) => self.team(team, None).await,
        }
    }

    /// A team's identity provider signing with `signing`, or with the certificate it last
    /// switched its SPs to. A team without certificates has no SAML identity yet.
    async fn team(
        &self,
        team_id: &TeamId,
        signing: Option<&str>,
    ) -> Result<Arc<IdentityProvider>, SamlError> {
        let published = self.certificates.published(team_id).await?;
        let default = published
            .iter()
            .filter(|row| row.activated_at.is_some())
            .max_by_key(|row| row.activated_at)
            .or_else(|| published.first())
            .map(|row| row.id.clone());
        // A copy of an SP kept a few seconds may name a certificate retired meanwhile (its SP
        // was switched first): the team's current one signs then.
        let signing = signing
            .filter(|id| published.iter().any(|row| row.id == *id))
            .map(str::to_owned)
            .or(default)
            .ok_or(SamlError::NoIdentity)?;
        let version: String = published.iter().map(|row| row.id.as_str()).collect();
        let key = (team_id.as_str().to_owned(), signing.clone());
        if let Some((made_for, idp)) = self.lock_teams().get(&key)
            && *made_for == version
        {
            return Ok(idp.clone());
        }
        // An SP's certificate is published as long as it signs (it cannot be retired before).
        let credentials = published
            .iter()
            .map(|row| self.certificates.credential(row))
            .collect::<Result<Vec<_>, _>>()?;
        let idp = Arc::new(IdentityProvider::for_team(
            &self.issuer,
            team_id,
            credentials,
            &signing,
        )?);
        let mut teams = self.lock_teams();
        if teams.len() >= TEAM_PROVIDERS {
            teams.clear();
        }
        teams.insert(key, (version, idp.clone()));
        Ok(idp)
    }

    fn lock_teams(&self) -> std::sync::MutexGuard<'_, TeamProviders> {
        self.teams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn certificates(&self) -> &Certificates {
        &self.certificates
    }
}
