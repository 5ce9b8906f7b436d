//! Marathon's answers: JSON bodies, error shapes and the deployment headers.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::deploy::{Applied, LOCKED_MESSAGE, Rejection};

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut res = Response::new(Body::from(value.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

pub(super) fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, &json!({ "message": text }))
}

pub(super) fn details(pairs: &[(String, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(path, error)| json!({"path": path, "errors": [error]}))
            .collect(),
    )
}

/// 400 as Marathon answers a body that is not the JSON it expects.
pub(super) fn invalid_json(pairs: &[(String, String)]) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"message": "Invalid JSON", "details": details(pairs)}),
    )
}

pub(super) fn rejection(r: Rejection) -> Response {
    match r {
        Rejection::Invalid(pairs) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": "Object is not valid", "details": details(&pairs)}),
        ),
        Rejection::Locked(ids) => json_response(
            StatusCode::CONFLICT,
            &json!({
                "message": LOCKED_MESSAGE,
                "deployments": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            }),
        ),
        Rejection::NotFound(text) => message(StatusCode::NOT_FOUND, &text),
        Rejection::Conflict(text) => message(StatusCode::CONFLICT, &text),
        Rejection::Unprocessable(text) => message(StatusCode::UNPROCESSABLE_ENTITY, &text),
    }
}

pub(super) fn started(status: StatusCode, version: &str, deployment_id: &str) -> Response {
    let mut res = json_response(
        status,
        &json!({"version": version, "deploymentId": deployment_id}),
    );
    if let Ok(v) = HeaderValue::from_str(deployment_id) {
        res.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    res
}

pub(super) fn applied(result: Result<Applied, Rejection>) -> Response {
    match result {
        Ok(Applied::Started {
            version,
            deployment_id,
        }) => started(StatusCode::OK, &version, &deployment_id),
        Ok(Applied::DryRun(steps)) => json_response(StatusCode::OK, &steps),
        Err(r) => rejection(r),
    }
}

pub(super) fn method_not_allowed(path: &str) -> Response {
    // What Jetty answers for a method a resource does not implement.
    let html = format!(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n<title>Error 405 HTTP method GET is not supported by this URL</title>\n</head>\n<body><h2>HTTP ERROR 405</h2>\n<p>Problem accessing {path}. Reason:\n<pre>    HTTP method GET is not supported by this URL</pre></p>\n</body>\n</html>\n"
    );
    let mut res = Response::new(Body::from(html));
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=ISO-8859-1"),
    );
    res
}

/// 404 for a path no resource serves, as Jersey answers it through Marathon's exception mapper.
pub(super) fn not_served(path: &str) -> Response {
    message(StatusCode::NOT_FOUND, &format!("URI not found: {path}"))
}
