//! The OpenAPI document of the staff API, `GET /api/v1/openapi.json`. Each handler describes
//! itself (`#[utoipa::path]`) and each module registers its handlers with `routes!`, so the
//! document and the router come from the same list: a route cannot be served undocumented, and
//! the access-matrix test walks this document to reach every route.
//!
//! What every operation shares is added here rather than on each handler: the refusals (400,
//! 401, 403, 404, 409, 429, 503, all `{"code", "message", "field"}`) and the two ways to sign
//! in (a bearer token, or the console's session cookie).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::ToSchema;

/// Every refusal of the API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, …
    pub code: String,
    /// For people; names the rule that was broken.
    pub message: String,
    /// The request field at fault (a body key, a query parameter, `path`), when there is one.
    pub field: Option<String>,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "cctrack staff API",
        description = "Community-corrections electronic supervision: alarms, persons, fences, leaves, \
                       trajectories, audit. Sign in with POST /api/v1/auth/login; send the token as \
                       `Authorization: Bearer …` (or, from the console, the session cookie with \
                       `X-Requested-With: cctrack` on changes). Records outside the account's \
                       organisation answer 404, exactly as missing ones."
    ),
    components(schemas(ErrorBody))
)]
pub struct Base;

const REFUSALS: [(&str, &str); 7] = [
    ("400", "the request is malformed or breaks a rule; `field` names what"),
    ("401", "not signed in, or the session ended"),
    ("403", "the account's role may not do this (auditors read only), or a change from another site"),
    ("404", "no such record, or none the account may see"),
    ("409", "the record is not in a state this can happen in (handled first by somebody else, decided)"),
    ("429", "too many failed logins; see Retry-After"),
    ("503", "the database is unavailable; nothing was stored"),
];

fn refusal(description: &str) -> RefOr<Response> {
    let content = utoipa::openapi::ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ErrorBody::name()))));
    ResponseBuilder::new().description(description).content("application/json", content.build()).build().into()
}

fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = (&String, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete]
            .into_iter()
            .filter_map(move |op| op.as_mut().map(|op| (path, op)))
    })
}

/// Adds what every operation shares: the refusals and the sign-in schemes (all but login and
/// this document need one).
pub fn finish(mut openapi: OpenApi) -> OpenApi {
    let components = openapi.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    components
        .add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("cctrack_session"))));
    for (path, op) in operations(&mut openapi) {
        for (status, description) in REFUSALS {
            op.responses.responses.entry(status.to_string()).or_insert_with(|| refusal(description));
        }
        let open = matches!(path.as_str(), "/api/v1/auth/login" | "/api/v1/openapi.json" | "/console/config.json");
        if !open {
            op.security = Some(vec![
                SecurityRequirement::new("bearer", Vec::<String>::new()),
                SecurityRequirement::new("session", Vec::<String>::new()),
            ]);
        }
    }
    openapi
}

static DOCUMENT: OnceLock<String> = OnceLock::new();

/// Keeps the finished document for `GET /api/v1/openapi.json` (the same for every application
/// in the process: it comes from the code).
pub fn publish(openapi: &OpenApi) {
    DOCUMENT.get_or_init(|| openapi.to_json().expect("the OpenAPI document serialises"));
}

/// The API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this document", content_type = "application/json", body = Object)))]
pub async fn openapi() -> axum::response::Response {
    let body = DOCUMENT.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
