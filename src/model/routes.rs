//! Inbound and outbound call routes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::address::is_did;
use super::dial_pattern;
use super::trunk::{MAX_TRUNK_NAME, check_dialplan_context, check_object_name};
use super::validate::{FieldErrors, double_option};

/// Calls arriving for `did` (optionally only from `trunk`) ring `extension`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRoute {
    pub id: i64,
    pub did: String,
    /// Trunk name; `None`: any trunk.
    pub trunk: Option<String>,
    /// Destination extension number.
    pub extension: String,
}

/// Numbers dialled internally that match `pattern` go out through `trunk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRoute {
    pub id: i64,
    pub name: String,
    /// Asterisk pattern, e.g. `_1NXXNXXXXXX`.
    pub pattern: String,
    /// Trunk name.
    pub trunk: String,
    /// Digits removed from the front before dialling.
    pub strip: u32,
    /// Digits added to the front after stripping.
    pub prepend: String,
    /// Lower runs first.
    pub priority: i32,
    /// Context the route is reachable from (the callers' context).
    pub context: String,
}

/// Default priority of an outbound route (lower runs first).
pub const DEFAULT_ROUTE_PRIORITY: i32 = 100;
pub const MAX_ROUTE_PRIORITY: i32 = 9999;
/// Longest route name (its context is `rayan-out-<name>`).
pub const MAX_ROUTE_NAME: usize = 80;
/// Most digits a route may strip.
pub const MAX_STRIP: u32 = 20;

/// `POST /api/v1/outbound-routes`.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOutboundRoute {
    #[schema(example = "us_local")]
    pub name: String,
    /// Asterisk dial pattern.
    #[schema(example = "_1NXXNXXXXXX")]
    pub pattern: String,
    /// Trunk name.
    #[schema(example = "telnyx_main")]
    pub trunk: String,
    /// Digits removed from the front (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip: Option<u32>,
    /// Digits added to the front after stripping (default none).
    #[schema(example = "+")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepend: Option<String>,
    /// Lower runs first (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// The callers' context (default `from-internal`).
    #[schema(example = "from-internal")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// `PATCH /api/v1/outbound-routes/{name}`: only the fields sent change.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundRoutePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip: Option<u32>,
    /// `""` removes the prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

fn check_outbound_fields(
    errors: &mut FieldErrors,
    trunk: Option<&str>,
    strip: Option<u32>,
    priority: Option<i32>,
    context: Option<&str>,
) {
    if let Some(trunk) = trunk {
        check_object_name(errors, "trunk", trunk, MAX_TRUNK_NAME);
    }
    if strip.is_some_and(|s| s > MAX_STRIP) {
        errors.push("strip", format!("must be 0 to {MAX_STRIP}"));
    }
    if priority.is_some_and(|p| !(0..=MAX_ROUTE_PRIORITY).contains(&p)) {
        errors.push("priority", format!("must be 0 to {MAX_ROUTE_PRIORITY}"));
    }
    if let Some(context) = context {
        check_dialplan_context(errors, "context", context);
    }
}

impl NewOutboundRoute {
    /// Checks each field on its own; the pattern, strip and prepend together, and the
    /// trunk's existence, are checked by the service.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_object_name(&mut errors, "name", &self.name, MAX_ROUTE_NAME);
        check_outbound_fields(
            &mut errors,
            Some(&self.trunk),
            self.strip,
            self.priority,
            self.context.as_deref(),
        );
        errors.finish()
    }
}

impl OutboundRoutePatch {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_outbound_fields(
            &mut errors,
            self.trunk.as_deref(),
            self.strip,
            self.priority,
            self.context.as_deref(),
        );
        errors.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.pattern.is_none()
            && self.trunk.is_none()
            && self.strip.is_none()
            && self.prepend.is_none()
            && self.priority.is_none()
            && self.context.is_none()
    }

    /// Applies the patch to `route`.
    pub fn apply_to(&self, route: &mut OutboundRoute) {
        if let Some(pattern) = &self.pattern {
            route.pattern = pattern.clone();
        }
        if let Some(trunk) = &self.trunk {
            route.trunk = trunk.clone();
        }
        if let Some(strip) = self.strip {
            route.strip = strip;
        }
        if let Some(prepend) = &self.prepend {
            route.prepend = prepend.clone();
        }
        if let Some(priority) = self.priority {
            route.priority = priority;
        }
        if let Some(context) = &self.context {
            route.context = context.clone();
        }
    }
}

/// `POST /api/v1/inbound-routes`.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInboundRoute {
    /// The dialled number as the provider delivers it.
    #[schema(example = "+15551234567")]
    pub did: String,
    /// Only calls from this trunk; absent: from any trunk.
    #[schema(example = "telnyx_main")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<String>,
    /// Destination extension number.
    #[schema(example = "1001")]
    pub extension: String,
}

/// `PATCH /api/v1/inbound-routes/{id}`: only the fields sent change; `"trunk": null`
/// makes the route apply to every trunk.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRoutePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

fn check_inbound_fields(
    errors: &mut FieldErrors,
    did: Option<&str>,
    trunk: Option<&str>,
    extension: Option<&str>,
) {
    if let Some(did) = did {
        errors.text("did", did, 40);
    }
    if let Some(trunk) = trunk {
        check_object_name(errors, "trunk", trunk, MAX_TRUNK_NAME);
    }
    if let Some(extension) = extension {
        if extension.is_empty()
            || extension.len() > 20
            || !extension.bytes().all(|b| b.is_ascii_digit())
        {
            errors.push("extension", "must be an extension number (digits)");
        }
    }
}

impl NewInboundRoute {
    /// Checks each field on its own; the DID syntax and the references are checked by
    /// the service.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_inbound_fields(
            &mut errors,
            Some(&self.did),
            self.trunk.as_deref(),
            Some(&self.extension),
        );
        errors.finish()
    }
}

impl InboundRoutePatch {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_inbound_fields(
            &mut errors,
            self.did.as_deref(),
            self.trunk.as_ref().and_then(|t| t.as_deref()),
            self.extension.as_deref(),
        );
        errors.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.did.is_none() && self.trunk.is_none() && self.extension.is_none()
    }

    /// Applies the patch to `route`.
    pub fn apply_to(&self, route: &mut InboundRoute) {
        if let Some(did) = &self.did {
            route.did = did.clone();
        }
        if let Some(trunk) = &self.trunk {
            route.trunk = trunk.clone();
        }
        if let Some(extension) = &self.extension {
            route.extension = extension.clone();
        }
    }
}

impl OutboundRoute {
    /// Every field rule the API applies, for a stored route: the API and the renderer
    /// refuse the same routes.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_object_name(&mut errors, "name", &self.name, MAX_ROUTE_NAME);
        check_outbound_fields(
            &mut errors,
            Some(&self.trunk),
            Some(self.strip),
            Some(self.priority),
            Some(&self.context),
        );
        check_route_pattern(&mut errors, &self.pattern, self.strip, &self.prepend);
        errors.finish()
    }
}

/// The pattern, then what strip and prepend do with it, each error on its own field.
pub fn check_route_pattern(errors: &mut FieldErrors, pattern: &str, strip: u32, prepend: &str) {
    let checked = dial_pattern::check_pattern(pattern)
        .and_then(|()| dial_pattern::check_strip_prepend(pattern, strip, prepend));
    if let Err(e) = checked {
        if !errors.0.iter().any(|f| f.field == e.field) {
            errors.push(e.field, e.reason);
        }
    }
}

impl InboundRoute {
    /// Every field rule the API applies, for a stored route.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_inbound_fields(
            &mut errors,
            Some(&self.did),
            self.trunk.as_deref(),
            Some(&self.extension),
        );
        check_did(&mut errors, "did", &self.did);
        errors.finish()
    }
}

/// A DID as dialled from outside: an optional `+` and 2 to 20 digits.
pub fn check_did(errors: &mut FieldErrors, field: &str, did: &str) {
    if !errors.0.iter().any(|f| f.field == field) && !is_did(did) {
        errors.push(field, "must be an optional '+' and 2 to 20 digits");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named() {
        let route = NewOutboundRoute {
            name: "9bad".into(),
            pattern: "_X.".into(),
            trunk: "t;x".into(),
            strip: Some(99),
            priority: Some(-1),
            context: Some("general".into()),
            ..Default::default()
        };
        let errors = route.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "trunk", "strip", "priority", "context"]);

        let inbound = NewInboundRoute {
            did: "+1\n".into(),
            trunk: Some("[x]".into()),
            extension: "10a".into(),
        };
        let errors = inbound.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["did", "trunk", "extension"]);
    }

    #[test]
    fn inbound_patch_can_clear_the_trunk() {
        let mut route = InboundRoute {
            id: 1,
            did: "+15551234567".into(),
            trunk: Some("t".into()),
            extension: "1001".into(),
        };
        let patch: InboundRoutePatch = serde_json::from_str(r#"{"trunk": null}"#).unwrap();
        patch.apply_to(&mut route);
        assert_eq!(route.trunk, None);
        assert_eq!(route.did, "+15551234567");
        let untouched: InboundRoutePatch =
            serde_json::from_str(r#"{"extension": "1002"}"#).unwrap();
        assert_eq!(untouched.trunk, None);
    }
}
