//! What the OpenAPI document says beyond each handler's own annotations: the
//! answers every operation can give from its extractors (authentication, JSON
//! bodies, query and path parameters) and from a failing store, and that every
//! problem is sent as `application/problem+json`.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, HeaderBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use super::error::PROBLEM_JSON;

const PROBLEM_SCHEMA: &str = "#/components/schemas/Problem";

/// The shared error answers, by component name.
struct Common {
    name: &'static str,
    status: &'static str,
    description: &'static str,
}

const UNAUTHORIZED: Common = Common {
    name: "Unauthorized",
    status: "401",
    description: "No bearer token, or one that is unknown or revoked",
};
const FORBIDDEN: Common = Common {
    name: "Forbidden",
    status: "403",
    description: "The token's role is too low",
};
const BAD_REQUEST: Common = Common {
    name: "BadRequest",
    status: "400",
    description: "Malformed JSON, or a path parameter that does not parse (e.g. an id beyond 64 bits); \
                  `errors` names the parameter",
};
const BAD_PATH: Common = Common {
    name: "InvalidPath",
    status: "400",
    description: "A path parameter that does not parse (e.g. an id beyond 64 bits); `errors` names it",
};
const TOO_LARGE: Common = Common {
    name: "PayloadTooLarge",
    status: "413",
    description: "The body exceeds `max_body_bytes`",
};
const MEDIA_TYPE: Common = Common {
    name: "UnsupportedMediaType",
    status: "415",
    description: "The body is not `application/json`",
};
const INVALID: Common = Common {
    name: "InvalidInput",
    status: "422",
    description: "An invalid, missing or unknown field or query parameter; `errors` names each",
};
const CONFLICT: Common = Common {
    name: "Conflict",
    status: "409",
    description: "A duplicate (or a number answered twice), or an object still in use",
};
const INTERNAL: Common = Common {
    name: "InternalError",
    status: "500",
    description: "The database failed; nothing was changed",
};

const ALL: [&Common; 9] = [
    &CONFLICT,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &BAD_REQUEST,
    &BAD_PATH,
    &TOO_LARGE,
    &MEDIA_TYPE,
    &INVALID,
    &INTERNAL,
];

fn problem_content() -> Content {
    Content::new(Some(Ref::new(PROBLEM_SCHEMA)))
}

fn component(common: &Common) -> Response {
    let mut response = ResponseBuilder::new()
        .description(common.description)
        .content(PROBLEM_JSON, problem_content());
    if common.status == "401" {
        let header = HeaderBuilder::new().description(Some("`Bearer`")).build();
        response = response.header("WWW-Authenticate", header);
    }
    response.build()
}

/// Completes the document generated from the handlers. Run it once the routes
/// are in: an `#[openapi(modifiers(…))]` sees no paths yet.
pub fn complete(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for common in ALL {
        components
            .responses
            .insert(common.name.to_owned(), RefOr::T(component(common)));
    }
    for item in openapi.paths.paths.values_mut() {
        for (is_get, operation) in operations(item) {
            complete_operation(operation, is_get);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    let PathItem {
        get,
        put,
        post,
        delete,
        patch,
        ..
    } = item;
    let get = get.as_mut().map(|op| (true, op));
    let others = [put, post, delete, patch]
        .into_iter()
        .filter_map(|op| op.as_mut().map(|op| (false, op)));
    get.into_iter().chain(others)
}

fn complete_operation(operation: &mut Operation, is_get: bool) {
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            send_problems_as_problem_json(response);
        }
    }
    let secured = match &operation.security {
        None => true,
        Some(requirements) => requirements
            .iter()
            .any(|r| *r != SecurityRequirement::default()),
    };
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let in_path = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let in_query = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = operation.request_body.is_some();

    let mut add = |common: &Common| {
        operation
            .responses
            .responses
            .entry(common.status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(common.name)));
    };
    if !secured {
        return;
    }
    add(&UNAUTHORIZED);
    if !is_get {
        // Every write needs the operator or admin role, and may meet another
        // write of the same object (a duplicate, a reference still in use).
        add(&FORBIDDEN);
        add(&CONFLICT);
    }
    if has_body {
        add(&BAD_REQUEST);
        add(&TOO_LARGE);
        add(&MEDIA_TYPE);
    } else if in_path {
        add(&BAD_PATH);
    }
    if has_body || in_query {
        add(&INVALID);
    }
    add(&INTERNAL);
}

/// Handlers name `Problem` as the body of their error answers; it is sent as
/// `application/problem+json`, not `application/json`.
fn send_problems_as_problem_json(response: &mut Response) {
    let is_problem = |content: &Content| match &content.schema {
        Some(RefOr::Ref(r)) => r.ref_location == PROBLEM_SCHEMA,
        _ => false,
    };
    if response
        .content
        .get("application/json")
        .is_some_and(is_problem)
        && let Some(content) = response.content.shift_remove("application/json")
    {
        response.content.insert(PROBLEM_JSON.to_owned(), content);
    }
}
