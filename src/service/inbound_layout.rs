//! Keeps inbound numbers unambiguous in the dialplan.
//!
//! An inbound route's DID becomes `exten => <did>,1,Goto(...)` in its trunk's context, or
//! in the context of every trunk when it names none; an extension's number becomes an
//! `exten` line in the extension's context. Two of these with the same number in one
//! context cannot be rendered (the renderer refuses the whole config), so a write that
//! would cause it is refused here, naming what it clashes with. Disabled trunks and
//! extensions count too: enabling one later must not break the dialplan.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::ServiceError;
use crate::store::entities::{extension, inbound_route};
use crate::store::{self};

/// The write being checked, as it will be after the commit.
pub(super) enum LayoutChange<'a> {
    /// A trunk created or changed (by name).
    Trunk { name: &'a str, context: &'a str },
    /// An inbound route created (`id: None`) or changed.
    Route {
        id: Option<i64>,
        did: &'a str,
        trunk: Option<&'a str>,
    },
    /// An extension created or changed (`previous`: its number before the change).
    Extension {
        previous: Option<&'a str>,
        number: &'a str,
        context: &'a str,
    },
}

/// One `exten` line the dialplan would carry: its context, number and what makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    context: String,
    number: String,
    source: String,
}

/// The first two lines with the same number in the same context.
fn first_clash(lines: &[Line]) -> Option<(&Line, &Line)> {
    let mut seen: HashMap<(&str, &str), &Line> = HashMap::with_capacity(lines.len());
    for line in lines {
        if let Some(first) = seen.insert((&line.context, &line.number), line) {
            return Some((first, line));
        }
    }
    None
}

/// `Ok(Some(message))` when `change` would put one number twice into a context.
pub(super) async fn clash(
    db: &impl ConnectionTrait,
    change: LayoutChange<'_>,
) -> Result<Option<String>, ServiceError> {
    // Most extension numbers are nobody's DID: one indexed query settles it.
    if let LayoutChange::Extension { number, .. } = &change {
        let routed = inbound_route::Entity::find()
            .filter(inbound_route::Column::Did.eq(*number))
            .count(db)
            .await?;
        if routed == 0 {
            return Ok(None);
        }
    }
    let mut trunks: Vec<(String, String)> = store::trunks::all(db)
        .await?
        .into_iter()
        .map(|t| (t.row.name, t.row.context))
        .collect();
    let mut routes: Vec<(Option<i64>, String, Option<String>)> = store::routes::all_inbound(db)
        .await?
        .into_iter()
        .map(|r| (Some(r.id), r.did, r.trunk))
        .collect();
    match &change {
        LayoutChange::Trunk { name, context } => {
            trunks.retain(|(n, _)| n != name);
            trunks.push(((*name).to_owned(), (*context).to_owned()));
        }
        LayoutChange::Route { id, did, trunk } => {
            if id.is_some() {
                routes.retain(|(rid, _, _)| rid != id);
            }
            routes.push((*id, (*did).to_owned(), trunk.map(str::to_owned)));
        }
        LayoutChange::Extension { .. } => {}
    }
    if routes.is_empty() {
        return Ok(None);
    }
    let dids: Vec<String> = routes.iter().map(|(_, did, _)| did.clone()).collect();
    let mut extensions: Vec<(String, String)> = extension::Entity::find()
        .select_only()
        .column(extension::Column::Number)
        .column(extension::Column::Context)
        .filter(extension::Column::Number.is_in(dids))
        .into_tuple()
        .all(db)
        .await?;
    if let LayoutChange::Extension {
        previous,
        number,
        context,
    } = &change
    {
        extensions.retain(|(n, _)| Some(n.as_str()) != *previous && n != number);
        extensions.push(((*number).to_owned(), (*context).to_owned()));
    }

    let contexts: HashMap<&str, &str> = trunks
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect();
    let mut lines: Vec<Line> = extensions
        .iter()
        .map(|(number, context)| Line {
            context: context.clone(),
            number: number.clone(),
            source: format!("extension {number}"),
        })
        .collect();
    for (id, did, trunk) in &routes {
        let source = match id {
            Some(id) => format!("inbound route {id}"),
            None => "the new inbound route".to_owned(),
        };
        let mut landing: Vec<&str> = match trunk {
            Some(name) => contexts.get(name.as_str()).copied().into_iter().collect(),
            None => contexts.values().copied().collect(),
        };
        landing.sort_unstable();
        landing.dedup();
        for context in landing {
            lines.push(Line {
                context: context.to_owned(),
                number: did.clone(),
                source: source.clone(),
            });
        }
    }
    Ok(first_clash(&lines).map(|(a, b)| {
        format!(
            "{} and {} would both answer {} in context {}",
            a.source, b.source, a.number, a.context
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(context: &str, number: &str, source: &str) -> Line {
        Line {
            context: context.into(),
            number: number.into(),
            source: source.into(),
        }
    }

    #[test]
    fn finds_a_number_twice_in_one_context_only() {
        let lines = vec![
            line("from-trunk", "+15551234567", "inbound route 1"),
            line("from-other", "+15551234567", "inbound route 2"),
            line("from-trunk", "+15557654321", "inbound route 3"),
        ];
        assert!(first_clash(&lines).is_none());
        let mut clashing = lines.clone();
        clashing.push(line("from-trunk", "+15551234567", "inbound route 4"));
        let (a, b) = first_clash(&clashing).unwrap();
        assert_eq!(
            (a.source.as_str(), b.source.as_str()),
            ("inbound route 1", "inbound route 4")
        );
    }
}
