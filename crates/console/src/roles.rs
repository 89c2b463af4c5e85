//! What each console role may do. The role is stored on the account; pages check it
//! here, in one place, before doing anything.

use super::error::ConsoleError;
use super::session::SignedIn;

/// The console's roles (`console_users.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Created the tenant (or was made owner): everything, API keys included.
    Owner,
    /// Templates, campaigns, customers, leads.
    Marketer,
    /// Conversations that need a human.
    CareAgent,
}

/// Things some roles may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See, create and revoke the tenant's API keys.
    ManageApiKeys,
    /// Invite people, change their roles, remove them.
    ManageTeam,
    /// Send a message from the console's form.
    SendMessages,
    /// Answer in conversations, take them from the bot and hand them back.
    AnswerConversations,
    /// Create, change and delete templates.
    ManageTemplates,
    /// See lead searches and leads, and download them.
    ManageLeads,
}

impl Role {
    /// Every role, in the order forms offer them.
    pub const ALL: [Role; 3] = [Self::Marketer, Self::CareAgent, Self::Owner];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Marketer => "marketer",
            Self::CareAgent => "care_agent",
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Marketer => "Marketer",
            Self::CareAgent => "Care agent",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Self::Owner),
            "marketer" => Some(Self::Marketer),
            "care_agent" => Some(Self::CareAgent),
            _ => None,
        }
    }

    pub fn may(self, permission: Permission) -> bool {
        match permission {
            Permission::ManageApiKeys | Permission::ManageTeam => self == Self::Owner,
            // Care agents answer in conversations; sending to anyone is marketing's.
            Permission::SendMessages | Permission::ManageTemplates | Permission::ManageLeads => {
                self != Self::CareAgent
            }
            Permission::AnswerConversations => self != Self::Marketer,
        }
    }
}

impl SignedIn {
    /// The person's role (an unknown stored role may do nothing).
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.0.user.role)
    }

    /// `Forbidden` unless the person's role allows `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        match self.role() {
            Some(role) if role.may(permission) => Ok(()),
            _ => Err(ConsoleError::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_manage_api_keys() {
        assert!(Role::Owner.may(Permission::ManageApiKeys));
        assert!(!Role::Marketer.may(Permission::ManageApiKeys));
        assert!(!Role::CareAgent.may(Permission::ManageApiKeys));
        assert_eq!(Role::parse("care_agent"), Some(Role::CareAgent));
        assert_eq!(Role::parse("admin"), None);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn only_owners_manage_the_team() {
        assert!(Role::Owner.may(Permission::ManageTeam));
        assert!(!Role::Marketer.may(Permission::ManageTeam));
        assert!(!Role::CareAgent.may(Permission::ManageTeam));
    }

    #[test]
    fn owners_and_marketers_send_from_the_console() {
        assert!(Role::Owner.may(Permission::SendMessages));
        assert!(Role::Marketer.may(Permission::SendMessages));
        assert!(!Role::CareAgent.may(Permission::SendMessages));
        assert!(Role::Marketer.may(Permission::ManageTemplates));
        assert!(!Role::CareAgent.may(Permission::ManageTemplates));
        assert!(Role::Marketer.may(Permission::ManageLeads));
        assert!(!Role::CareAgent.may(Permission::ManageLeads));
    }

    #[test]
    fn owners_and_care_agents_answer_conversations() {
        assert!(Role::Owner.may(Permission::AnswerConversations));
        assert!(Role::CareAgent.may(Permission::AnswerConversations));
        assert!(!Role::Marketer.may(Permission::AnswerConversations));
    }
}
