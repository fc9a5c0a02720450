//! The managed part of `extensions.conf`.
//!
//! One `Dialplan <context>` block per context that has enabled extensions, inbound routes
//! or outbound routes:
//!
//! ```text
//! [from-internal]
//! exten => 1001,hint,PJSIP/1001
//! exten => 1001,1,Dial(PJSIP/1001,30)
//!  same => n,Hangup()
//! include => rayan-out-us_local
//! ```
//!
//! Each outbound route is its own block, `Route outbound <name>`, holding a context
//! `rayan-out-<name>`; the callers' context includes the route contexts in priority order.
//! Asterisk orders the patterns inside one context by how specific they are, not by file
//! order, but searches `include`d contexts in the order written: only includes make the
//! route priority mean "first match wins". Inbound routes (`exten => <did>,1,Goto(...)`) go
//! into the context of their trunk, or of every enabled trunk when they name none.
//! Routes to a disabled extension or through a disabled trunk are left out, like the
//! disabled objects themselves; routes to objects that do not exist are an error.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::extension::check_number;
use super::section::{MAX_SECTION_NAME, check_name};
use super::snapshot::RenderFailure;
use super::{ConfigSnapshot, ManagedBlock, RenderError, RenderSettings};
use crate::model::dial_pattern::{self, PatternError};
use crate::model::safe::is_plain_identifier;
use crate::model::{Extension, InboundRoute, ObjectRef, OutboundRoute, Trunk};

/// Contexts `extensions.conf` reserves for its own settings.
const RESERVED_CONTEXTS: &[&str] = &["general", "globals"];

/// The context holding an outbound route's pattern.
pub fn route_context(name: &str) -> String {
    format!("rayan-out-{name}")
}

/// Checks an outbound route's dial pattern (the rule is [`dial_pattern::check_pattern`]).
pub fn check_dial_pattern(pattern: &str) -> Result<(), RenderError> {
    dial_pattern::check_pattern(pattern).map_err(|e| pattern_error(pattern, e))
}

/// Checks a route's strip and prepend against its pattern.
pub fn check_strip_prepend(pattern: &str, strip: u32, prepend: &str) -> Result<(), RenderError> {
    dial_pattern::check_strip_prepend(pattern, strip, prepend)
        .map_err(|e| pattern_error(pattern, e))
}

fn pattern_error(pattern: &str, error: PatternError) -> RenderError {
    RenderError::InvalidDialPattern {
        pattern: pattern.to_owned(),
        reason: error.reason,
    }
}

/// Checks a context name; `object` names the owner, formatted only for an error.
fn check_context(object: impl Fn() -> String, context: &str) -> Result<&str, RenderError> {
    if !is_plain_identifier(context, MAX_SECTION_NAME) {
        check_name(&object(), context)?;
    }
    if RESERVED_CONTEXTS.contains(&context) {
        return Err(RenderError::InvalidField {
            object: object(),
            field: "context".to_owned(),
            reason: format!("'{context}' is reserved by extensions.conf"),
        });
    }
    Ok(context)
}

#[derive(Default)]
struct ContextLines<'s> {
    extensions: Vec<&'s Extension>,
    /// (did, target context, target number)
    inbound: Vec<(&'s str, &'s str, &'s str)>,
    /// (priority, route name, route context)
    includes: Vec<(i32, &'s str, String)>,
    /// Every number answered in the context, to refuse a second line for one.
    numbers: HashSet<&'s str>,
}

fn natural(number: &str) -> (usize, &str) {
    (number.len(), number)
}

fn route_dial_line(route: &OutboundRoute, trunk: &str) -> String {
    let exten = if route.strip == 0 {
        "${EXTEN}".to_owned()
    } else {
        format!("${{EXTEN:{}}}", route.strip)
    };
    format!(
        "[{ctx}]\nexten => {pattern},1,Dial(PJSIP/{prepend}{exten}@{trunk})\n same => n,Hangup()\n",
        ctx = route_context(&route.name),
        pattern = route.pattern,
        prepend = route.prepend,
    )
}

/// Renders every dialplan block: contexts (sorted by name), then outbound routes (sorted
/// by name). An object that cannot be rendered is left out and listed as a failure; the
/// others are rendered as if it did not exist.
pub fn render_dialplan(
    snapshot: &ConfigSnapshot,
    settings: &RenderSettings,
) -> (Vec<ManagedBlock>, Vec<RenderFailure>) {
    let mut failures = Vec::new();
    let trunks: HashMap<&str, &Trunk> = snapshot
        .trunks
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let extensions: HashMap<&str, &Extension> = snapshot
        .extensions
        .iter()
        .map(|e| (e.number.as_str(), e))
        .collect();
    let mut contexts: BTreeMap<&str, ContextLines> = BTreeMap::new();

    for extension in snapshot.extensions.iter().filter(|e| e.enabled) {
        let checked = check_number(&extension.number).and_then(|()| {
            check_context(
                || format!("extension {}", extension.number),
                &extension.context,
            )
        });
        match checked {
            Ok(context) => contexts
                .entry(context)
                .or_default()
                .extensions
                .push(extension),
            Err(error) => failures.push(RenderFailure::new(
                ObjectRef::extension(&extension.number),
                error,
            )),
        }
    }
    for lines in contexts.values_mut() {
        lines.numbers = lines.extensions.iter().map(|e| e.number.as_str()).collect();
    }

    for route in &snapshot.inbound_routes {
        if let Err(error) = inbound_lines(route, &extensions, &trunks, snapshot, &mut contexts) {
            failures.push(RenderFailure::new(
                ObjectRef::inbound_route(route.id),
                error,
            ));
        }
    }

    let mut route_blocks = Vec::new();
    let mut route_names: HashSet<&str> = HashSet::new();
    for route in &snapshot.outbound_routes {
        match outbound_block(route, &trunks, &mut route_names, &contexts) {
            Ok(Some((context, block))) => {
                contexts.entry(context).or_default().includes.push((
                    route.priority,
                    &route.name,
                    route_context(&route.name),
                ));
                route_blocks.push((ObjectRef::outbound_route(&route.name), block));
            }
            Ok(None) => {}
            Err(error) => failures.push(RenderFailure::new(
                ObjectRef::outbound_route(&route.name),
                error,
            )),
        }
    }
    route_blocks.sort_by(|a, b| a.1.id.cmp(&b.1.id));

    let mut blocks = Vec::with_capacity(contexts.len() + route_blocks.len());
    let timeout = settings.dial_timeout_secs.to_string();
    for (context, mut lines) in contexts {
        lines
            .extensions
            .sort_by(|a, b| natural(&a.number).cmp(&natural(&b.number)));
        lines.inbound.sort();
        lines.includes.sort();
        let mut body = String::with_capacity(64 + 60 * lines.extensions.len());
        body.push('[');
        body.push_str(context);
        body.push_str("]\n");
        for extension in &lines.extensions {
            // The hint lets phones and panels subscribe to the line's state (BLF).
            for piece in [
                "exten => ",
                &extension.number,
                ",hint,PJSIP/",
                &extension.number,
                "\nexten => ",
                &extension.number,
                ",1,Dial(PJSIP/",
                &extension.number,
                ",",
                &timeout,
                ")\n same => n,Hangup()\n",
            ] {
                body.push_str(piece);
            }
        }
        for (did, target_context, number) in &lines.inbound {
            for piece in [
                "exten => ",
                did,
                ",1,Goto(",
                target_context,
                ",",
                number,
                ",1)\n same => n,Hangup()\n",
            ] {
                body.push_str(piece);
            }
        }
        for (_, _, included) in &lines.includes {
            body.push_str("include => ");
            body.push_str(included);
            body.push('\n');
        }
        let block = ManagedBlock {
            id: ObjectRef::dialplan(context).block_id(),
            body,
        };
        match verify_dialplan(&block.id, &block.body) {
            Ok(()) => blocks.push(block),
            Err(error) => failures.push(RenderFailure::new(ObjectRef::dialplan(context), error)),
        }
    }
    for (route, block) in route_blocks {
        match verify_dialplan(&block.id, &block.body) {
            Ok(()) => blocks.push(block),
            Err(error) => failures.push(RenderFailure::new(route, error)),
        }
    }
    (blocks, failures)
}

/// Adds an inbound route's lines to the contexts of the trunks it arrives through.
fn inbound_lines<'s>(
    route: &'s InboundRoute,
    extensions: &HashMap<&str, &'s Extension>,
    trunks: &HashMap<&str, &'s Trunk>,
    snapshot: &'s ConfigSnapshot,
    contexts: &mut BTreeMap<&'s str, ContextLines<'s>>,
) -> Result<(), RenderError> {
    let object = format!("inbound route {}", route.did);
    // The DID and the references' syntax: the API's own rules.
    route
        .check()
        .map_err(|errors| RenderError::invalid_fields(&object, errors))?;
    let Some(target) = extensions.get(route.extension.as_str()) else {
        return Err(RenderError::MissingReference {
            object,
            missing: format!("extension {}", route.extension),
        });
    };
    if !target.enabled {
        return Ok(());
    }
    let via: Vec<&Trunk> = match &route.trunk {
        Some(name) => match trunks.get(name.as_str()) {
            Some(trunk) => vec![*trunk],
            None => {
                return Err(RenderError::MissingReference {
                    object,
                    missing: format!("trunk {name}"),
                });
            }
        },
        None => snapshot.trunks.iter().collect(),
    };
    // Check every context first, so that a refused route adds no line anywhere.
    let mut targets: Vec<&str> = Vec::new();
    for trunk in via.into_iter().filter(|t| t.enabled) {
        let context = check_context(|| object.clone(), &trunk.context)?;
        if targets.contains(&context) {
            continue;
        }
        if contexts
            .get(context)
            .is_some_and(|lines| lines.numbers.contains(&route.did.as_str()))
        {
            return Err(RenderError::Duplicate {
                what: "dialplan extension",
                name: format!("{context},{}", route.did),
            });
        }
        targets.push(context);
    }
    for context in targets {
        let lines = contexts.entry(context).or_default();
        lines.numbers.insert(&route.did);
        lines
            .inbound
            .push((&route.did, &target.context, &target.number));
    }
    Ok(())
}

/// An outbound route's own block and the callers' context that includes it; `None`
/// when its trunk is disabled.
fn outbound_block<'s>(
    route: &'s OutboundRoute,
    trunks: &HashMap<&str, &'s Trunk>,
    route_names: &mut HashSet<&'s str>,
    contexts: &BTreeMap<&'s str, ContextLines<'s>>,
) -> Result<Option<(&'s str, ManagedBlock)>, RenderError> {
    let object = format!("outbound route {}", route.name);
    // Name, pattern, strip, prepend and context syntax: the API's own rules.
    route
        .check()
        .map_err(|errors| RenderError::invalid_fields(&object, errors))?;
    if !route_names.insert(&route.name) {
        return Err(RenderError::Duplicate {
            what: "outbound route",
            name: route.name.clone(),
        });
    }
    let own_context = route_context(&route.name);
    if contexts.contains_key(own_context.as_str()) {
        return Err(RenderError::Duplicate {
            what: "dialplan context",
            name: own_context,
        });
    }
    let context = check_context(|| object.clone(), &route.context)?;
    let Some(trunk) = trunks.get(route.trunk.as_str()) else {
        return Err(RenderError::MissingReference {
            object,
            missing: format!("trunk {}", route.trunk),
        });
    };
    if !trunk.enabled {
        return Ok(None);
    }
    check_name(&object, &trunk.name)?;
    Ok(Some((
        context,
        ManagedBlock {
            id: ObjectRef::outbound_route(&route.name).block_id(),
            body: route_dial_line(route, &trunk.name),
        },
    )))
}
/// Reads a rendered dialplan block back: only `[context]`, `exten => `, ` same => ` and
/// `include => ` lines, none of them carrying a comment or a line break.
pub fn verify_dialplan(object: &str, text: &str) -> Result<(), RenderError> {
    for (index, line) in text.lines().enumerate() {
        let unexpected = |reason: &str| RenderError::UnexpectedOutput {
            object: object.to_owned(),
            line: index + 1,
            reason: reason.to_owned(),
        };
        if line.bytes().any(|b| matches!(b, b';' | b'\r' | 0)) {
            return Err(unexpected("contains a comment or control character"));
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if !is_plain_identifier(name, MAX_SECTION_NAME) {
                return Err(unexpected("context name"));
            }
        } else if !(line.starts_with("exten => ")
            || line.starts_with(" same => n,")
            || line.starts_with("include => "))
        {
            return Err(unexpected("not an exten, same or include line"));
        }
    }
    Ok(())
}
