/// Why a team action was refused. A person outside the team gets [`TeamError::NotFound`]
/// whatever they asked, so they learn nothing about it.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("there is no such team, or you are not in it")]
    NotFound,
    #[error("only the team's administrators may do this")]
    Forbidden,
    #[error("the team must keep at least one administrator: make someone else administrator first")]
    LastAdministrator,
    #[error("that person is not a member of this team")]
    NotAMember,
    #[error("an identity an integration created cannot be an administrator: nobody signs in as it")]
    IntegrationIdentityAdmin,
    #[error("there is no such join link in this team")]
    JoinLinkNotFound,
    #[error("a join link may last at most {max}; ask for a shorter lifetime")]
    TtlTooLong { max: String },
    #[error("a join link must last at least one second")]
    TtlTooShort,
    #[error("the maximum number of uses must be at least 1")]
    MaxUses,
    #[error("a team name must be 1 to 100 characters, without control characters")]
    InvalidName,
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// Why a join link cannot be used. Each says what happened, so the page can say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("this join link does not exist")]
    NotFound,
    #[error("this join link has expired")]
    Expired,
    #[error("this join link was revoked by an administrator")]
    Revoked,
    #[error("this join link has been used as many times as it allows")]
    UsedUp,
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}
